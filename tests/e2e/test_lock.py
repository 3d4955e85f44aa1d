"""One writer at a time: real `faceops` processes against a holder of the project lock."""

import json
import subprocess

import pytest
from helpers import sh, tool_env


@pytest.mark.slow
def test_two_retrains_at_once_run_one_after_the_other_and_commit_nothing(tmp_path, lfw):
    """Before the lock, the second one failed every attempt ("dataset/raw is busy") and left a commit
    "dvc: commit experiment …" on the user's branch."""
    import yaml
    from helpers import make_project

    project = make_project(tmp_path / "repo", lfw, people=3, images=12)
    sh("dvc", "repro", cwd=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["retrain"].update(threshold=1.0, max_attempts=1, schedule=[{"name": "longer", "set": {"train.epochs": 3}}])
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "baseline", cwd=project)
    head = sh("git", "rev-parse", "HEAD", cwd=project).stdout
    runs = [
        subprocess.Popen(
            ["faceops", "retrain", "--report", f"reports/retrain-{i}.json"],
            cwd=project,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode in (0, 2, 3), out + err
    assert sum("waiting for `faceops retrain`" in err for _, err in outputs) == 1
    assert sh("git", "rev-parse", "HEAD", cwd=project).stdout == head, "a commit nobody asked for"
    for i in (1, 2):
        attempts = json.loads((project / f"reports/retrain-{i}.json").read_text())["attempts"]
        assert [a["verdict"] for a in attempts] != ["crashed"], attempts
