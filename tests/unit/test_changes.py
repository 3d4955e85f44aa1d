"""What changes between the live model and the candidate: per-person answer changes on the test faces (gate.json,
the report) and on the service's recent faces (`faceops replay`)."""

import json
import time

import numpy as np
import pytest

from faceops.cli.main import main
from faceops.records.drift import log_recognitions
from faceops.records.feedback import FaceRecord, PendingStore, crop_jpeg
from faceops.records.store import FolderStore
from faceops.release import replay as replay_module
from faceops.release.gate import GateVerdict
from faceops.release.paired import MAX_EXAMPLES, AnswerChanges, PairedTable, answer_changes, count_changes
from faceops.release.promote import GateCheck, GateResult
from faceops.release.report import build_report


def _row(face, person, live, candidate):
    return {"face": face, "person": person, "live": live, "candidate": candidate}


ROWS = [
    _row("a1.jpg", "Ann", "Ann", "unknown"),
    _row("a2.jpg", "Ann", "Ann", "unknown"),
    _row("a3.jpg", "Ann", "Ann", "unknown"),
    _row("a4.jpg", "Ann", "Ann", "Bob"),
    _row("a5.jpg", "Ann", "Ann", "Ann"),  # unchanged: not counted
    _row("b1.jpg", "Bob", "unknown", "Bob"),
    _row("b2.jpg", "Bob", "Ann", "Bob"),
    _row("s1.jpg", None, "unknown", "Bob"),
]


def test_changes_are_counted_per_person_in_words():
    changes = count_changes(ROWS)
    assert changes.people == {"Ann": {"unknown": 3, "Bob": 1}, "Bob": {"named right": 2}, "strangers": {"Bob": 1}}
    assert changes.lines() == [
        "Ann: 3 faces now unknown, 1 now Bob",
        "Bob: 2 faces now named right",
        "strangers: 1 face now Bob",
    ]
    assert changes.faces == 7 and len(changes.examples) == 7
    assert changes.examples[0] == {"face": "a1.jpg", "person": "Ann", "live": "Ann", "candidate": "unknown"}


def test_a_forgotten_person_is_never_shown():
    changes = count_changes(ROWS, hidden={"Bob"})
    assert changes.people == {"Ann": {"unknown": 3}}
    assert "Bob" not in json.dumps(changes.to_dict())


def test_at_most_twenty_examples_and_no_changes():
    many = [_row(f"f{i:03}.jpg", "Ann", "Ann", "unknown") for i in range(50)]
    changes = count_changes(many)
    assert changes.people == {"Ann": {"unknown": 50}} and len(changes.examples) == MAX_EXAMPLES
    assert count_changes([_row("a.jpg", "Ann", "Ann", "Ann")]) == AnswerChanges({}, ())


def test_changes_from_two_evaluations_pair_faces():
    class Served:
        def __init__(self, rows):
            self.served = rows

    live = Served(
        [{"face": "a.jpg", "person": "Ann", "answer": "Ann"}, {"face": "b.jpg", "person": "Bob", "answer": "Bob"}]
    )
    candidate = Served(
        [{"face": "a.jpg", "person": "Ann", "answer": "unknown"}, {"face": "c.jpg", "person": "C", "answer": "x"}]
    )
    assert answer_changes(candidate, live).people == {"Ann": {"unknown": 1}}


def _verdict(changes):
    check = GateCheck("accuracy", 0.8, 0.9, ">= 0.5", True)
    return GateVerdict.of(GateResult((check,)), PairedTable(5, 1, 2, 0, 0.5, 0.05), changes)


def test_gate_json_keeps_the_changes_and_older_files_still_read(tmp_path):
    verdict = _verdict(count_changes(ROWS))
    verdict.write(tmp_path / "gate.json")
    written = json.loads((tmp_path / "gate.json").read_text())
    assert written["changes"]["faces"] == 7 and written["changes"]["people"]["Ann"] == {"unknown": 3, "Bob": 1}
    assert GateVerdict.read(tmp_path / "gate.json") == verdict
    del written["changes"]
    (tmp_path / "old.json").write_text(json.dumps(written))
    assert GateVerdict.read(tmp_path / "old.json").changes is None
    written["changes"] = {"people": {"Ann": {"unknown": "three"}}}
    (tmp_path / "bad.json").write_text(json.dumps(written))
    with pytest.raises(Exception, match=r"bad.json: 'changes.people.Ann.unknown' is 'three', expected a whole"):
        GateVerdict.read(tmp_path / "bad.json")


def test_the_report_shows_what_changes_with_thumbnails(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/eval.json").write_text(json.dumps({"accuracy": 0.9}))
    (tmp_path / "data/faces/Ann").mkdir(parents=True)
    (tmp_path / "data/faces/Ann/a1.jpg").write_bytes(crop_jpeg(np.full((120, 100, 3), 128, dtype="uint8")))
    changes = count_changes([{**row, "face": f"data/faces/Ann/{row['face']}"} for row in ROWS])
    _verdict(changes).write(tmp_path / "reports/gate.json")
    report = build_report(tmp_path, 0.5)
    assert (
        "<h2>What changes</h2>" in report.html_for_file
        and "Ann: 3 faces now unknown, 1 now Bob" in report.html_for_file
    )
    assert report.html_for_file.count('class="thumb"') == 1  # only the crop that exists
    assert "data:image/jpeg;base64," in report.html_for_email
    assert (
        "what changes: 7 test faces get another answer" in report.text
        and "  Bob: 2 faces now named right" in report.text
    )


# -- faceops replay ---------------------------------------------------------------------------------------


def _models(root):
    (root / "models").mkdir(exist_ok=True)
    for name in ("candidate", "model"):
        (root / f"models/{name}.keras").write_bytes(b"")
        (root / f"models/{name}.json").write_text("{}")


def _face(store, face_id, name, label, logged=True, kept=True):
    record = FaceRecord(face_id, time.time(), name, label, 0.25, "v1")
    if kept:
        PendingStore(store).keep([(crop_jpeg(np.zeros((60, 50, 3), dtype="uint8")), record)])
    if logged:
        line = {"time": record.time, "name": name, "label": label, "distance": 0.25, "model": "v1"}
        log_recognitions(store, [line])
    return record


def _replay(root, monkeypatch, capsys, *args):
    monkeypatch.chdir(root)
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_without_a_candidate_log_or_kept_crop_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FACEOPS_RECORDS", raising=False)
    code, out, err = _replay(tmp_path, monkeypatch, capsys)
    assert (
        code == 1 and err == "error: no candidate at models/candidate.keras (and its card): train one with dvc repro\n"
    )
    _models(tmp_path)
    code, out, err = _replay(tmp_path, monkeypatch, capsys)
    assert code == 1 and err.startswith("error: no recognitions since 7d in .'s log") and err.count("\n") == 1
    store = FolderStore(tmp_path)
    _face(store, "aa01", "Ann", "Ann", kept=False)
    _face(store, "aa02", "Ann", "Ann", logged=False)  # a crop without its log line is not a recognition
    code, out, err = _replay(tmp_path, monkeypatch, capsys)
    assert code == 1 and err.startswith("error: nothing to replay: none of the 1 recognitions") and err.count("\n") == 1
    code, out, err = _replay(tmp_path, monkeypatch, capsys, "--since", "soon")
    assert code == 1 and err.startswith("error: --since 'soon'") and err.count("\n") == 1


def test_replay_counts_per_live_answer_and_hides_the_forgotten(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FACEOPS_RECORDS", raising=False)
    _models(tmp_path)
    store = FolderStore(tmp_path)
    for face_id in ("aa01", "aa02", "aa03"):
        _face(store, face_id, "Ann", "Ann")
    _face(store, "cc01", "Cid", "Cid")  # forgotten since: never shown
    (tmp_path / "receipts").mkdir()
    (tmp_path / "receipts/forget-Cid-20260101T000000Z.json").write_text("{}")

    class Card:
        forgotten = ()
        version = "v1"

    class Fake:
        def __init__(self, path):
            self.card, self.candidate = Card(), "candidate" in str(path)

    new = {"aa01": "unknown", "aa02": "Bob", "aa03": "Ann", "cc01": "unknown"}
    monkeypatch.setattr(replay_module.Recogniser, "load", Fake)
    monkeypatch.setattr(
        replay_module,
        "answers",
        lambda faces, model: {f.record.id: new[f.record.id] if model.candidate else f.record.name for f in faces},
    )
    code, out, err = _replay(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert out.splitlines()[1:] == [
        "2 faces get another answer from the candidate:",
        "  Ann: 1 face now Bob, 1 now unknown",
    ]
    assert "replayed 3 of 4 recognitions since 7d" in out and "Cid" not in out
    code, out, err = _replay(tmp_path, monkeypatch, capsys, "--json")
    data = json.loads(out)
    assert data["replayed"] == 3 and data["changes"]["people"] == {"Ann": {"Bob": 1, "unknown": 1}}
