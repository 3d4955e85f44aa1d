"""One writer at a time: real `faceops` processes against a holder of the project lock."""

import json
import os
import signal
import time

import pytest
from helpers import sh
from support.lock import _hold


@pytest.fixture
def photos(tmp_path, lfw):
    """A project folder and a tiny photo tree (two people, two photos each) to import into it."""
    source = tmp_path / "source"
    for person in ("Ann", "Bob"):
        (source / person).mkdir(parents=True)
        for i, photo in enumerate(sorted((lfw / "Tony_Blair").glob("*.jpg"))[:2]):
            (source / person / f"{person}_{i}.jpg").write_bytes(photo.read_bytes())
    project = tmp_path / "project"
    project.mkdir()
    return project, source


def test_no_wait_exits_2_at_once_naming_the_holder(photos):
    project, source = photos
    holder = _hold(project, seconds=600)
    try:
        result = sh("faceops", "import-folder", str(source), "--no-wait", cwd=project, check=False)
        assert holder.poll() is None, "it waited for the holder to end"
        assert result.returncode == 2
        assert f"the project is busy: `faceops retrain` (PID {holder.pid}, since " in result.stderr
        assert not (project / "dataset/raw").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_second_writer_waits_for_the_first_then_runs(photos):
    project, source = photos
    holder = _hold(project, seconds=3)
    result = sh("faceops", "import-folder", str(source), cwd=project, check=False)
    holder.wait()
    assert result.returncode == 0, result.stderr
    assert f"waiting for `faceops retrain` (PID {holder.pid}, since " in result.stderr
    assert "took over" not in result.stderr  # the holder ended properly
    assert len(list((project / "dataset/raw").glob("*/*.jpg"))) == 4


SLOW_TO_NAME = """
import fcntl, json, os, sys, time
fd = os.open(".faceops/lock", os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("taken", flush=True)
time.sleep(0.5)  # what a holder preempted between its flock and its write looks like to a second command
os.pwrite(fd, json.dumps({"command": "faceops retrain", "pid": os.getpid(), "since": "now"}).encode(), 0)
time.sleep(3)
os.ftruncate(fd, 0)
"""


def test_a_holder_found_before_it_wrote_its_name_is_still_named(photos):
    """Two commands started together: the second found the lock taken and the file still empty, and said "waiting
    for another faceops command" (two retrains at once on CI's loaded 2-core machine)."""
    import subprocess
    import sys

    from helpers import tool_env

    project, source = photos
    (project / ".faceops").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", SLOW_TO_NAME], cwd=project, env=tool_env(), stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"taken"
    result = sh("faceops", "import-folder", str(source), cwd=project, check=False)
    holder.wait()
    assert result.returncode == 0, result.stderr
    assert f"waiting for `faceops retrain` (PID {holder.pid}, since now)" in result.stderr


def test_a_dead_holders_lock_is_taken_over_with_a_note(photos):
    project, source = photos
    holder = _hold(project)
    os.kill(holder.pid, signal.SIGKILL)  # no chance to tidy up: the file still names it
    holder.wait()
    assert json.loads((project / ".faceops/lock").read_text())["pid"] == holder.pid
    result = sh("faceops", "import-folder", str(source), "--no-wait", cwd=project, check=False)
    assert result.returncode == 0, result.stderr
    assert f"note: took over the project lock left by `faceops retrain` (PID {holder.pid}" in result.stderr
    assert (project / ".faceops/lock").read_text() == ""  # released


def test_readers_never_wait(photos, tmp_path):
    project, _ = photos
    holder = _hold(project)
    try:
        result = sh("faceops", "feedback", "list", "--records", str(tmp_path / "records"), cwd=project, check=False)
        assert "waiting" not in result.stderr and "busy" not in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_retrain_dry_run_is_a_reader_and_retrain_is_a_writer(photos):
    project, _ = photos
    (project / "params.yaml").write_text("retrain:\n  threshold: 0.9\n")
    holder = _hold(project, command="faceops forget --person X")
    try:
        dry = sh("faceops", "retrain", "--dry-run", cwd=project, check=False)
        assert dry.returncode == 0 and "retrain while accuracy < 0.9" in dry.stdout
        busy = sh("faceops", "retrain", "--no-wait", cwd=project, check=False)
        assert busy.returncode == 2 and "`faceops forget --person X`" in busy.stderr
    finally:
        holder.kill()
        holder.wait()


def test_rollback_register_and_promote_are_writers_and_the_listing_a_reader(photos):
    """A rollback (or a registration) during a `faceops repro` would write models/, dvc.lock and GTO's tags under
    the pipeline's feet: they wait for the lock like every other writer; `faceops models` alone only reads."""
    project, _ = photos
    sh("git", "init", "-q", cwd=project)
    holder = _hold(project, command="faceops repro")
    try:
        for command in (["rollback"], ["models", "--register"], ["promote", "--replace-unreadable"]):
            busy = sh("faceops", *command, "--no-wait", cwd=project, check=False)
            assert busy.returncode == 2, (command, busy.stderr)
            assert f"the project is busy: `faceops repro` (PID {holder.pid}, since " in busy.stderr
        listing = sh("faceops", "models", cwd=project, check=False)
        assert "busy" not in listing.stderr and "waiting" not in listing.stderr
    finally:
        holder.kill()
        holder.wait()


def test_sigterm_to_a_writer_stops_what_it_started_before_the_lock_is_free(tmp_path):
    """SIGTERM (a CI abort, `timeout`, systemd) to `faceops repro` ended faceops at once: its `dvc repro` ran on, in
    a session of its own, and wrote dvc.lock after the lock was free for the next writer. Now the stage is stopped
    first, and faceops exits 143 saying so."""
    import subprocess

    from helpers import tool_env
    from support.remote_bounds import running_in

    project = tmp_path / "slow"
    project.mkdir()
    sh("git", "init", "-q", cwd=project)
    sh("dvc", "init", "-q", cwd=project)
    stage = "touch started && sleep 30 && echo done > out.txt"
    (project / "dvc.yaml").write_text(f"stages:\n  slow:\n    cmd: {stage}\n    outs: [out.txt]\n")
    repro = subprocess.Popen(["faceops", "repro"], cwd=project, env=tool_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (project / "started").exists():
        assert time.monotonic() < deadline and repro.poll() is None, "the stage never started"
        time.sleep(0.2)
    repro.send_signal(signal.SIGTERM)
    assert repro.wait(timeout=40) == 143
    assert "terminated (SIGTERM)" in repro.stderr.read()
    assert running_in(project) == []  # dvc repro and its stage are gone, not running on without the lock
    assert (project / ".faceops/lock").read_text() == ""  # released after them, tidily
    time.sleep(2)
    assert not (project / "out.txt").exists() and not (project / "dvc.lock").exists()
