"""The files faceops writes, read back as typed records: a round trip keeps every field, and a bad file is one line
naming the file and the field (small JSON files, no data set)."""

import dataclasses
import json

import pytest

from faceops.core.errors import FaceopsError
from faceops.data.counts import FaceCounts
from faceops.model.metrics import EvaluationMetrics, TrainMetrics
from faceops.release.gate import GateVerdict
from faceops.release.paired import PairedTable
from faceops.release.promote import GateCheck, GateResult
from faceops.release.receipts import Found, Receipt, receipt_files
from faceops.release.registry import forgotten_people
from faceops.release.retrain import Attempt, RetrainReport

EVALUATION = {
    "accuracy": 0.9123,
    "macro_f1": 0.88,
    "open_set_accuracy": 0.85,
    "false_reject_rate": 0.05,
    "false_accept_rate": None,
    "far_interval": [0.0, 0.3],
    "false_accepts": 0,
    "unknown_threshold": 0.4,
    "test_faces": 40,
    "stranger_faces": 10,
    "people": 5,
    "backbone": "dlib_resnet",
    "weights": "dlib's pretrained descriptor",
}
TRAINING = {
    "train_accuracy": 1.0,
    "train_loss": 0.1,
    "val_accuracy": None,
    "epochs_run": 12,
    "people": 5,
    "train_faces": 100,
    "val_faces": 0,
    "feature_seconds": 3.25,
    "head_seconds": 1.5,
    "cache_hits": 1,
    "cache_misses": 2,
    "unknown_threshold": 0.4,
    "unknown_expected_frr": 0.05,
    "rejections": 0,
    "stranger_faces": 10,
    "false_accepts": 0,
}
CHECK = {"name": "accuracy", "live": 0.9, "candidate": 0.91, "limit": ">= 0.5 (promote.min_metric)", "passed": True}
VERDICT = {"promoted": True, "checks": [{**CHECK, "note": ""}], "notes": [], "paired": None}


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _error(read, path):
    with pytest.raises(FaceopsError) as caught:
        read(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- round trips: what the writer wrote, the reader gives back, byte for byte -----------------------------


def test_evaluation_metrics_round_trip_as_the_evaluate_stage_wrote_them(tmp_path):
    path = _file(tmp_path, "metrics/eval.json", EVALUATION)
    metrics = EvaluationMetrics.read(path)
    assert metrics.to_dict() == EVALUATION and list(metrics.to_dict()) == list(EVALUATION)
    assert metrics.value("macro_f1") == 0.88 and metrics.value("backbone") is None
    metrics.write(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == EVALUATION
    older = EvaluationMetrics.read(_file(tmp_path, "old.json", {"accuracy": 0.5, "unseen_people": []}))
    assert older.accuracy == 0.5 and older.stranger_faces is None  # an older file: newer fields read as None


def test_train_metrics_and_face_counts_round_trip(tmp_path):
    assert TrainMetrics.read(_file(tmp_path, "metrics/train.json", TRAINING)).to_dict() == TRAINING
    counts = FaceCounts(photos=10, faces=8, rejected=2, people=3)
    counts.write(tmp_path / "metrics/faces.json")
    assert FaceCounts.read(tmp_path / "metrics/faces.json") == counts


def test_gate_verdict_round_trip_with_the_paired_table(tmp_path):
    table = PairedTable(30, 2, 5, 3, 0.91, 0.05)
    check = GateCheck("false_accept_rate", None, 0.1, "<= 0.05", True, "FAR not measurable on 10 stranger faces")
    verdict = GateVerdict.of(GateResult((GateCheck(**CHECK), check)), table)
    verdict.write(tmp_path / "reports/gate.json")
    written = json.loads((tmp_path / "reports/gate.json").read_text())
    assert list(written) == ["promoted", "checks", "notes", "paired"]
    assert written["paired"]["faces"] == 40 and written["notes"] == [check.note]
    again = GateVerdict.read(tmp_path / "reports/gate.json")
    assert again == verdict and again.paired.summary() == table.summary()
    failed = dataclasses.replace(verdict, promoted=False, promotion_failed="could not write models/model.keras")
    failed.write(tmp_path / "reports/gate.json")
    assert list(json.loads((tmp_path / "reports/gate.json").read_text()))[-1] == "promotion_failed"
    assert GateVerdict.read(tmp_path / "reports/gate.json") == failed
    assert GateVerdict.read(tmp_path / "nothing.json", missing=None) is None


def test_retrain_report_and_receipt_round_trip(tmp_path):
    attempt = Attempt("longer", "retrain-1-longer", {"train.epochs": 40}, 12.5, dict(EVALUATION), "passed", None)
    crashed = Attempt("bigger", "retrain-2-bigger", {}, 3.0, None, "crashed", "boom")
    report = RetrainReport("passed", 0, "accuracy", 0.9, dict(EVALUATION), attempt.experiment, None,
                           (attempt, crashed), "2026-01-01T00:00:00+00:00")  # fmt: skip
    report.write(tmp_path / "reports/retrain.json")
    assert RetrainReport.read(tmp_path / "reports/retrain.json") == report
    receipt = Receipt("Ann", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z", [Found("dataset/raw", "ab", "photo")],
                      ["git history"], "promoted", True, checked=["read 3 files"])  # fmt: skip
    written = receipt.write(tmp_path)
    assert written.files == ("receipts/forget-Ann-20260101T000000Z.json", "receipts/forget-Ann-20260101T000000Z.txt")
    assert receipt_files(tmp_path) == receipt_files(tmp_path, "Ann") == [tmp_path / written.files[0]]
    assert Receipt.read(tmp_path / written.files[0]) == written
    assert forgotten_people(tmp_path) == {"Ann"}


# -- bad files: one line naming the file and the field ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"checks": []}, "reports/gate.json: field 'promoted' is missing"),
        ({**VERDICT, "promoted": "yes"}, "reports/gate.json: 'promoted' is 'yes', expected true or false"),
        (
            {**VERDICT, "checks": [{k: v for k, v in CHECK.items() if k != "passed"}]},
            "field 'checks[0].passed' is missing",
        ),
        ({**VERDICT, "checks": [{**CHECK, "live": "0.9"}]}, "'checks[0].live' is '0.9', expected a number"),
        ({**VERDICT, "checks": ["accuracy"]}, "'checks[0]' is 'accuracy', expected an object"),
        ({**VERDICT, "paired": {"both_right": 1}}, "field 'paired.only_live' is missing"),
        ({**VERDICT, "notes": [1]}, "'notes' is [1], expected a list of texts"),
        ([VERDICT], "reports/gate.json: [{'promoted'"),
        ("{", "reports/gate.json: not valid JSON"),
    ],
)
def test_a_bad_gate_verdict_names_the_file_and_the_field(tmp_path, data, message):
    assert message in _error(GateVerdict.read, _file(tmp_path, "reports/gate.json", data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**EVALUATION, "accuracy": "abc"}, "metrics/eval.json: 'accuracy' is 'abc', expected a number"),
        ({**EVALUATION, "accuracy": True}, "metrics/eval.json: 'accuracy' is True, expected a number"),
        ({"macro_f1": 0.5}, "metrics/eval.json: field 'accuracy' is missing"),
        ({**EVALUATION, "test_faces": 4.5}, "metrics/eval.json: 'test_faces' is 4.5, expected a whole number"),
        ({**EVALUATION, "macro_f1": None}, "metrics/eval.json: 'macro_f1' is None, expected a number"),
        (
            {**EVALUATION, "far_interval": ["a"]},
            "metrics/eval.json: 'far_interval' is ['a'], expected a list of numbers",
        ),
    ],
)
def test_bad_evaluation_metrics_name_the_file_and_the_field(tmp_path, data, message):
    assert _error(EvaluationMetrics.read, _file(tmp_path, "metrics/eval.json", data)).endswith(message)


def test_bad_train_metrics_and_face_counts_name_the_file_and_the_field(tmp_path):
    train = {k: v for k, v in TRAINING.items() if k != "epochs_run"}
    assert _error(TrainMetrics.read, _file(tmp_path, "metrics/train.json", train)).endswith(
        "metrics/train.json: field 'epochs_run' is missing"
    )
    assert _error(TrainMetrics.read, _file(tmp_path, "metrics/train.json", {**TRAINING, "val_faces": "0"})).endswith(
        "metrics/train.json: 'val_faces' is '0', expected a whole number"
    )
    faces = _file(tmp_path, "metrics/faces.json", {"photos": 1.5, "faces": 1, "rejected": 0, "people": 1})
    assert _error(FaceCounts.read, faces).endswith("metrics/faces.json: 'photos' is 1.5, expected a whole number")
    faces = _file(tmp_path, "metrics/faces.json", {"photos": 1, "faces": 1, "people": 1})
    assert _error(FaceCounts.read, faces).endswith("metrics/faces.json: field 'rejected' is missing")
    assert _error(FaceCounts.read, tmp_path / "metrics/none.json").endswith("not found; run `dvc repro` first")


def test_a_bad_retrain_report_names_the_file_and_the_field(tmp_path):
    attempt = {"name": "a", "experiment": "e", "overrides": {}, "seconds": "12", "metrics": None, "verdict": "crashed"}
    report = {"status": "passed", "exit_code": 0, "metric": "accuracy", "threshold": 0.9, "baseline": EVALUATION,
              "chosen": None, "interrupted_by": None, "attempts": [attempt], "finished": "now"}  # fmt: skip
    path = _file(tmp_path, "reports/retrain.json", report)
    assert _error(RetrainReport.read, path).endswith(
        "reports/retrain.json: 'attempts[0].seconds' is '12', expected a number"
    )
    path = _file(tmp_path, "reports/retrain.json", {k: v for k, v in report.items() if k != "status"})
    assert _error(RetrainReport.read, path).endswith("reports/retrain.json: field 'status' is missing")


def test_a_bad_receipt_names_the_file_and_the_field(tmp_path):
    path = _file(tmp_path, "receipts/forget-Ann-20260101T000000Z.json", {"started": "x"})
    assert _error(Receipt.read, path).endswith("receipts/forget-Ann-20260101T000000Z.json: field 'person' is missing")
    assert _error(forgotten_people, tmp_path).endswith("field 'person' is missing")
    receipt = {"person": "Ann", "started": "s", "finished": "f", "removed": [{"place": "p", "key": "k"}],
               "remaining": [], "retrained": "promoted", "verified": True}  # fmt: skip
    path = _file(tmp_path, "receipts/forget-Ann-20260101T000000Z.json", receipt)
    assert _error(Receipt.read, path).endswith("field 'removed[0].what' is missing")
