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
