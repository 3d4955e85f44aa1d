"""The release gate: a bad candidate never replaces the live model."""

import hashlib
import json

import pytest
import yaml
from helpers import make_project, sh, tool_env, write_params


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
