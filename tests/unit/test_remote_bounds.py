"""Faults degrade, never corrupt: a bucket or DVC remote that refuses connections, or accepts and never answers,
is a one-line error within FACEOPS_REMOTE_SECONDS (record store, `faceops forget`), never a hang."""

from __future__ import annotations

import time

import pytest

from faceops.core import dvc
from faceops.core.errors import FaceopsError


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf"])
def test_a_bad_bound_is_one_line_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, value)
    with pytest.raises(FaceopsError, match=rf"^FACEOPS_REMOTE_SECONDS is '{value}'; allowed: seconds, more than 0$"):
        dvc.remote_seconds()


def test_the_bound_defaults_to_thirty_seconds(monkeypatch):
    monkeypatch.delenv(dvc.REMOTE_SECONDS_VARIABLE, raising=False)
    assert dvc.remote_seconds() == dvc.REMOTE_SECONDS_DEFAULT == 30


def test_a_call_that_cannot_connect_is_tried_again_then_given_up(monkeypatch):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "10")
    tries = []

    def refused() -> None:
        tries.append(time.monotonic())
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(dvc.RemoteError, match=r"^the bucket cannot be reached after 3 tries: .*Connection refused"):
        dvc.bounded("the bucket", refused)
    assert len(tries) == 3 and tries[-1] - tries[0] >= 1.4  # backoff 0.5 s, 1 s


def test_other_errors_are_the_calls_own(monkeypatch):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "10")
    with pytest.raises(FileNotFoundError):
        dvc.bounded("the bucket", open, "/no/such/file")


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_transfer_bound_is_one_line_naming_its_variable(monkeypatch, value):
    monkeypatch.setenv(dvc.TRANSFER_SECONDS_VARIABLE, value)
    with pytest.raises(FaceopsError, match=rf"^FACEOPS_TRANSFER_SECONDS is '{value}'; allowed: seconds, more than 0$"):
        dvc.transfer_seconds()


def test_pushes_and_pulls_get_fifteen_minutes_not_the_thirty_seconds_of_a_listing(monkeypatch):
    monkeypatch.delenv(dvc.TRANSFER_SECONDS_VARIABLE, raising=False)
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "1")
    assert dvc.transfer_seconds() == dvc.TRANSFER_SECONDS_DEFAULT == 900


def test_a_transfer_that_hangs_is_cut_at_its_own_bound(monkeypatch):
    monkeypatch.setenv(dvc.TRANSFER_SECONDS_VARIABLE, "1")
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "100")
    started = time.monotonic()
    expected = r"^the DVC remote 'x' did not answer within 1 s \(FACEOPS_TRANSFER_SECONDS\)$"
    with pytest.raises(dvc.RemoteError, match=expected):
        dvc.bounded_transfer("the DVC remote 'x'", time.sleep, 30)
    assert time.monotonic() - started < 3


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that runs (a zombie waiting for its parent to reap it has stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_command_past_its_deadline_is_stopped_with_everything_it_started(tmp_path):
    """`dvc push` starts helpers of its own; the deadline stops the whole process group, not only dvc."""
    from faceops.core import tools

    child = tmp_path / "child"
    started = time.monotonic()
    with pytest.raises(tools.DeadlineError, match=r"^`bash -c .*` did not finish within 1 s; it was stopped$"):
        tools.run(["bash", "-c", f"sleep 60 & echo $! > {child}; wait"], seconds=1)
    assert time.monotonic() - started < 10
    pid = int(child.read_text())
    for _ in range(50):  # SIGTERM is delivered at once; the reaper may take a moment
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid)
