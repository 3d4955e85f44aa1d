"""Release gate v2: the candidate against the live model on the same faces, false rejects, and failing closed."""

import hashlib
import json

import pytest
from helpers import make_project, sh, write_params


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


LIVE_FILES = ("models/model.keras", "models/model.json")


@pytest.mark.slow
def test_worse_candidate_false_rejects_and_a_broken_card_are_refused(tmp_path, lfw):
    # A good live model (dlib's pretrained descriptor), then a candidate with random VGG16 weights, one epoch,
    # the absolute floors opened: only the paired check stands between it and the service.
    path = make_project(
        tmp_path / "repo",
        lfw,
        people=4,
        images=20,
        train={"backbone": "dlib_resnet", "epochs": 30},
        promote={"significance": 0.05},
    )
    sh("dvc", "repro", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "first model", cwd=path)
    live = {name: _sha(path / name) for name in LIVE_FILES}
    write_params(path, {"train": {"backbone": "vgg16", "weights": None, "epochs": 1}, "promote": {"min_metric": 0.01}})
    result = sh("dvc", "repro", cwd=path)
    refused = [line for line in result.stderr.splitlines() if "REFUSED" in line]
    assert len(refused) == 1 and "worse than live on the same faces" in refused[0], result.stderr
    assert "(needs >= 0.05 (promote.significance))" in refused[0]
    assert {name: _sha(path / name) for name in LIVE_FILES} == live
    gate = json.loads((path / "reports/gate.json").read_text())
    assert gate["paired"]["candidate_worse"] and gate["paired"]["only_live"] > gate["paired"]["only_candidate"]
    sh("faceops", "report", cwd=path)
    assert "only live" in (path / "reports/report.html").read_text()

    # The same candidate with the paired check off: its false-reject rate is over the ceiling.
    frr = json.loads((path / "metrics/candidate.json").read_text())["false_reject_rate"]
    assert frr > 0.1
    write_params(path, {"promote": {"significance": 0.0, "max_false_reject_rate": 0.1}})
    result = sh("dvc", "repro", cwd=path)
    assert f"false_reject_rate {frr:.4g} (needs <= 0.1 (promote.max_false_reject_rate))" in result.stderr
    assert {name: _sha(path / name) for name in LIVE_FILES} == live

    # A live card that cannot be read refuses the candidate (fails closed), whatever the candidate scores.
    write_params(path, {"promote": {"max_false_reject_rate": 1.0}})
    (path / "models/model.json").write_text("{")
    result = sh("dvc", "repro", "--force", "-s", "train", "evaluate", cwd=path)
    refused = [line for line in result.stderr.splitlines() if "REFUSED" in line]
    assert len(refused) == 1 and "live model readable (models/model.json: not valid JSON" in refused[0], result.stderr
    assert _sha(path / "models/model.keras") == live["models/model.keras"]
    assert (path / "models/model.json").read_text() == "{"

    # Replacing it is deliberate: `faceops promote --replace-unreadable` (floors still apply).
    replaced = sh("faceops", "promote", "--replace-unreadable", cwd=path)
    assert "replacing the unreadable live model: models/model.json: not valid JSON" in replaced.stderr
    assert replaced.stdout.startswith("PROMOTED")
    card = json.loads((path / "models/model.json").read_text())
    assert card["backbone"] == "vgg16" and card["schema_version"] == 2
    again = sh("faceops", "promote", "--replace-unreadable", cwd=path, check=False)
    assert again.returncode == 1 and "models/model.keras reads: the release gate compares with it" in again.stderr
