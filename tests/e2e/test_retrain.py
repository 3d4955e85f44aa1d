"""`faceops retrain` for real: DVC experiments in a temporary git + DVC repository of LFW faces.

The baseline trains on random VGG16 weights (poor), and the tweak that passes switches to the dlib
face backbone (near perfect on four people), so which attempt passes does not depend on luck.
"""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import make_project, sh, tool_env

FACE_BACKBONE = {"name": "face-backbone", "set": {"train.backbone": "dlib_resnet", "train.epochs": 30}}


def _set_retrain(path, **retrain):
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["retrain"].update(retrain)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "commit", "-qam", "retrain settings", cwd=path)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def random_weights_project(tmp_path_factory, lfw):
    path = make_project(tmp_path_factory.mktemp("retrain") / "repo", lfw)
    sh("dvc", "repro", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "baseline model", cwd=path)
    sh("git", "tag", "baseline", cwd=path)
    return path


@pytest.fixture
def project(random_weights_project):
    """The baseline (random VGG16 weights, committed), whatever an earlier test committed or applied."""
    path = random_weights_project
    sh("git", "reset", "-q", "--hard", "baseline", cwd=path)
    sh("git", "clean", "-qfd", "--", "reports", cwd=path)
    sh("dvc", "checkout", "-q", "--force", cwd=path)
    return path


def test_below_threshold_retrains_until_a_tweak_passes(project):
    _set_retrain(
        project,
        threshold=0.9,
        max_attempts=5,
        schedule=[
            {"name": "broken", "set": {"train.weights": "no-such-weights.h5"}},  # valid, fails when it runs
            {"name": "as-now", "set": {"train.epochs": 2}},  # what the live model was trained with: not run again
            {"name": "a-bit-longer", "set": {"train.epochs": 3}},
            FACE_BACKBONE,
            {"name": "never-reached", "set": {"train.epochs": 4}},
        ],
    )
    result = sh("faceops", "retrain", cwd=project, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads((project / "reports/retrain.json").read_text())
    assert report["status"] == "passed" and report["exit_code"] == 0
    assert report["baseline"]["accuracy"] < 0.9
    assert [a["name"] for a in report["attempts"]] == ["broken", "as-now", "a-bit-longer", "face-backbone"]
    assert [a["verdict"] for a in report["attempts"]] == ["crashed", "skipped", "below_threshold", "passed"]
    broken = report["attempts"][0]
    assert broken["metrics"] is None and "no-such-weights.h5: weights file not found" in broken["error"]
    assert "as-now: skipped: trains the same model as params.yaml as it is" in result.stdout
    assert report["attempts"][3]["metrics"]["accuracy"] >= 0.9
    assert report["chosen"].endswith("-4-face-backbone")
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["train"]["backbone"] == "dlib_resnet" and params["train"]["epochs"] == 30
    assert json.loads((project / "models/model.json").read_text())["backbone"] == "dlib_resnet"
    assert json.loads((project / "metrics/eval.json").read_text())["accuracy"] >= 0.9
    assert "up to date" in sh("dvc", "status", cwd=project).stdout
    assert "PASSED: accuracy meets 0.9" in result.stdout
    experiments = sh("dvc", "exp", "list", "--name-only", cwd=project).stdout.split()
    assert report["chosen"] in experiments


def test_improved_but_below_threshold_exits_2(project):
    # Random VGG16 features trained longer: better than 2 epochs, never perfect.
    longer = {"name": "longer", "set": {"train.epochs": 40}}
    _set_retrain(project, threshold=1.0, max_attempts=1, schedule=[longer])
    result = sh("faceops", "retrain", cwd=project, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads((project / "reports/retrain.json").read_text())
    assert report["status"] == "improved_below_threshold" and report["chosen"]
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["epochs"] == 40


def test_no_improvement_keeps_the_current_model_and_params(project):
    # A baseline below a perfect score (random VGG16 features, trained longer), and two attempts that are worse.
    sh("dvc", "exp", "run", "-S", "train.epochs=40", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "longer-trained model", cwd=project)
    _set_retrain(
        project,
        threshold=1.0,
        max_attempts=2,
        schedule=[
            {"name": "one-epoch", "set": {"train.epochs": 1}},
            {"name": "one-epoch-logistic", "set": {"train.epochs": 1, "train.head": "logistic"}},
        ],
    )
    before = {
        name: _sha(project / name) for name in ("params.yaml", "dvc.lock", "models/model.keras", "metrics/eval.json")
    }
    result = sh("faceops", "retrain", cwd=project, check=False)
    assert result.returncode == 3
    report = json.loads((project / "reports/retrain.json").read_text())
    assert report["status"] == "no_improvement" and report["chosen"] is None
    assert [a["verdict"] for a in report["attempts"]] == ["below_threshold", "below_threshold"]
    assert all(a["metrics"]["accuracy"] < report["baseline"]["accuracy"] for a in report["attempts"])
    assert {name: _sha(project / name) for name in before} == before
    changed = [line[3:] for line in sh("git", "status", "--porcelain", cwd=project).stdout.splitlines()]
    assert changed == ["reports/retrain.json"]  # the report; nothing else in the workspace moved
    assert "NO IMPROVEMENT" in result.stdout


def test_already_passing_does_nothing(project):
    _set_retrain(project, threshold=0.01)
    result = sh("faceops", "retrain", cwd=project)
    report = json.loads((project / "reports/retrain.json").read_text())
    assert report["status"] == "passed" and report["attempts"] == []
    assert "PASSED" in result.stdout


def test_dry_run_prints_the_plan_and_bad_schedules_are_named(project):
    result = sh("faceops", "retrain", "--dry-run", cwd=project)
    assert result.stdout.splitlines()[0] == "retrain while accuracy < 0.9 (at most 5 attempts):"
    assert "  1. more-epochs: train.epochs=80" in result.stdout
    assert "  5. face-backbone: train.backbone=dlib_resnet, train.epochs=60" in result.stdout
    assert not (project / "reports/retrain.json").exists()
    _set_retrain(project, max_attempts=2)
    plan = sh("faceops", "retrain", "--dry-run", cwd=project).stdout.splitlines()
    assert plan[0] == "retrain while accuracy < 0.9 (at most 2 attempts):" and len(plan) == 3
    _set_retrain(project, schedule=[{"set": {"train.epochs": 3}}])
    result = sh("faceops", "retrain", "--dry-run", cwd=project, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: params.yaml: retrain.schedule[0] is {'set': {'train.epochs': 3}}; "
        "allowed: a name and a set of overrides"
    )


def _workspace_bytes(path: Path) -> dict[str, bytes]:
    """Every file of the workspace and the git index and HEAD, byte for byte; not git's object store, the DVC
    cache or the feature cache (caches may grow), nor the retrain report the run is meant to write."""
    files = {}
    for file in sorted(path.rglob("*")):
        name = file.relative_to(path).as_posix()
        skipped = (".git/", ".dvc/cache/", ".dvc/tmp/", ".faceops/")
        if file.is_file() and not name.startswith(skipped) and name != "reports/retrain.json":
            files[name] = file.read_bytes()
    for name in (".git/index", ".git/HEAD"):
        files[name] = (path / name).read_bytes()
    return files


def _stage_processes(project: Path) -> list[int]:
    """Processes running a stage script of this project (what `dvc exp run` starts)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except (OSError, ValueError):
            continue
        if "stages." in cmdline and cwd == str(project):
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_attempt_puts_the_workspace_back_byte_for_byte(project, tmp_path, signum):
    _set_retrain(project, threshold=1.0, max_attempts=1, schedule=[{"name": "long", "set": {"train.epochs": 5000}}])
    (project / "notes.txt").write_text("staged, not committed\n")
    sh("git", "add", "notes.txt", cwd=project)  # the index must come back with this in it, and nothing more
    before = _workspace_bytes(project)
    status_before = sh("dvc", "status", cwd=project).stdout  # the params stage is due: params.yaml changed
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    retrain = subprocess.Popen(
        ["faceops", "retrain"],
        cwd=project,
        env={**tool_env(), "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not _stage_processes(project) and retrain.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stage_processes(project), "the attempt never started a stage"
    time.sleep(3)  # into the stage: dvc has rewritten params.yaml and the stage is at work
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["epochs"] == 5000
    retrain.send_signal(signum)
    stdout, stderr = retrain.communicate(timeout=120)

    assert retrain.returncode == 4, stdout + stderr
    assert f"INTERRUPTED by {signal.Signals(signum).name}" in stdout
    assert "Traceback" not in stderr
    after = _workspace_bytes(project)
    assert sorted(after) == sorted(before)
    assert [name for name in before if before[name] != after[name]] == []
    report = json.loads((project / "reports/retrain.json").read_text())
    assert report["status"] == "interrupted" and report["exit_code"] == 4
    assert report["interrupted_by"] == signal.Signals(signum).name
    assert [a["verdict"] for a in report["attempts"]] == ["interrupted"]
    assert _stage_processes(project) == []  # the experiment's stage was stopped, not orphaned
    assert list(scratch.iterdir()) == []  # no snapshot left behind
    assert sh("dvc", "status", cwd=project).stdout == status_before  # DVC sees the workspace as before
    if signum == signal.SIGTERM:  # nothing stale (locks, half an experiment) stops the next run
        sh("dvc", "exp", "run", "-S", "train.epochs=1", cwd=project)
