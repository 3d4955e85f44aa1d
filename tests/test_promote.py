"""The release gate: a bad candidate never replaces the live model."""

import hashlib
import json

import pytest
import yaml
from helpers import make_project, sh, tool_env, write_params

from faceops.core.params import PromoteParams
from faceops.model.evaluate import Evaluation
from faceops.release.promote import judge


def _evaluation(accuracy, far, recalls):
    per_person = [{"person": p, "precision": 1.0, "recall": r, "f1": r, "support": 5} for p, r in recalls.items()]
    return Evaluation({"accuracy": accuracy, "false_accept_rate": far}, per_person, [])


def test_gate_names_the_check_and_the_person():
    live = _evaluation(0.9, 0.01, {"Ann": 1.0, "Bob": 0.8})
    worse = _evaluation(0.85, 0.2, {"Ann": 0.5, "Bob": 0.8})
    result = judge(
        worse, live, PromoteParams(min_metric=0.5, max_false_accept_rate=0.05, max_recall_drop=0.2), "accuracy"
    )
    assert not result.passed
    assert [c.passed for c in result.checks] == [True, False, False]
    assert result.reason() == (
        "false_accept_rate 0.2 (needs <= 0.05 (promote.max_false_accept_rate)); "
        "largest recall drop (Ann) 0.5 (needs <= 0.2 (promote.max_recall_drop))"
    )
    assert judge(live, None, PromoteParams(), "accuracy").passed  # a first model: nothing to drop from


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_refused_candidate_leaves_the_live_model_and_its_metrics(tmp_path, lfw):
    path = make_project(tmp_path / "repo", lfw, people=3, images=12)
    sh("dvc", "repro", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "first model", cwd=path)
    live = {name: _sha(path / name) for name in ("models/model.keras", "models/model.json", "metrics/eval.json")}
    write_params(path, {"promote": {"min_metric": 0.99}, "train": {"learning_rate": 1e-9, "epochs": 1}})
    result = sh("dvc", "repro", cwd=path)
    refused = [line for line in result.stderr.splitlines() if "REFUSED" in line]
    assert len(refused) == 1 and "(needs >= 0.99 (promote.min_metric))" in refused[0], result.stderr
    assert refused[0].endswith("the live model stays")
    assert {name: _sha(path / name) for name in live} == live  # the model, its card and its metrics
    gate = json.loads((path / "reports/gate.json").read_text())
    assert gate["promoted"] is False and gate["checks"][0]["live"] is not None
    candidate = json.loads((path / "metrics/candidate.json").read_text())
    assert candidate["accuracy"] < 0.99
    report = sh("faceops", "report", cwd=path)
    assert "REFUSED" in (path / "reports/report.html").read_text() and report.returncode == 0
    # The same candidate passes a gate that lets it through, and only then goes live.
    write_params(path, {"promote": {"min_metric": 0.0}})
    sh("dvc", "repro", cwd=path)
    assert _sha(path / "models/model.keras") != live["models/model.keras"]
    assert yaml.safe_load((path / "params.yaml").read_text())["promote"]["min_metric"] == 0.0


@pytest.mark.parametrize("full_at", [1, 2])
def test_a_full_disk_during_promotion_leaves_the_live_pair(tmp_path, monkeypatch, full_at):
    """ENOSPC is injected at the model's copy (1) or the card's (2): a real full disk cannot be mounted here."""
    import errno
    import shutil

    from faceops.release.promote import promote

    for name, text in (("candidate.keras", "new model"), ("candidate.json", "new card")):
        (tmp_path / name).write_text(text)
    for name, text in (("model.keras", "live model"), ("model.json", "live card")):
        (tmp_path / name).write_text(text)
    copies, real_copy = [], shutil.copyfile

    def copy_until_full(source, target):
        copies.append(target)
        if len(copies) == full_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError, match="No space left"):
        promote(tmp_path / "candidate.keras", tmp_path / "model.keras")
    assert (tmp_path / "model.keras").read_text() == "live model"
    assert (tmp_path / "model.json").read_text() == "live card"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "candidate.json",
        "candidate.keras",
        "model.json",
        "model.keras",
    ]  # no half-written copy left beside them


ENOSPC_AT_PROMOTION = """
import errno, shutil
_copy = shutil.copyfile
def _full(source, target, *args, **kwargs):
    if ".model.json." in str(target):  # the live card's copy during promotion, and nothing else
        raise OSError(errno.ENOSPC, "No space left on device")
    return _copy(source, target, *args, **kwargs)
shutil.copyfile = _full
"""


@pytest.mark.slow
def test_gate_json_and_the_live_model_agree_when_the_disk_fills_during_promotion(tmp_path, lfw):
    """A sitecustomize injects ENOSPC at the card's copy in the evaluate stage (no real full disk here)."""
    path = make_project(tmp_path / "repo", lfw, people=3, images=12)
    sh("dvc", "repro", cwd=path)
    live = {name: _sha(path / name) for name in ("models/model.keras", "models/model.json")}
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(ENOSPC_AT_PROMOTION)
    write_params(path, {"train": {"epochs": 3}})
    env = {**tool_env(), "PYTHONPATH": str(inject)}
    result = sh("dvc", "repro", cwd=path, check=False, env=env)
    assert result.returncode != 0
    assert "the candidate passed the release gate but could not write models/model.keras" in result.stderr
    assert "Traceback" not in result.stderr
    assert {name: _sha(path / name) for name in live} == live
    gate = json.loads((path / "reports/gate.json").read_text())
    assert gate["promoted"] is False and "No space left on device" in gate["promotion_failed"]
