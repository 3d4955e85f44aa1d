"""Running git, gto and dvc: the one subprocess wrapper the CLI, retrain, report, registry and doctor share
(DVC's commands through faceops.core.dvc, which checks DVC's version first).

Each call runs in a given project folder with this interpreter's scripts first on PATH (so `dvc` is
the one installed beside faceops), never reads standard input, and turns a failure into one line
that quotes the tool's own last error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from faceops.core.errors import FaceopsError


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git and dvc: ours, with this interpreter's bin folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.update(extra or {})
    return env


def last_error(result: subprocess.CompletedProcess) -> str:
    """The line that says what went wrong: a stage's `error:` line, else DVC's `ERROR:`, else the last line."""
    lines = [line for line in ((result.stderr or "") + (result.stdout or "")).splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("error:")]
    theirs = [line for line in lines if line.startswith("ERROR:")]
    return (ours or theirs or lines or [f"exit status {result.returncode}"])[-1][:500]


class DeadlineError(FaceopsError):
    """A command ran past its deadline and was stopped, with everything it started."""


def run(
    args: list[str],
    cwd: str | os.PathLike[str] = ".",
    check: bool = True,
    env: Mapping[str, str] | None = None,
    seconds: float | None = None,
) -> subprocess.CompletedProcess:
    """Run a command to completion; with `check`, a non-zero exit is a FaceopsError quoting its error.

    The command runs in its own process group, so an interruption of ours (Ctrl-C, SIGTERM) stops it
    and everything it started (dvc's stage scripts) before we go on to clean up after it. With `seconds`, a
    command still running then is stopped the same way (a DeadlineError): a remote that never answers never holds us.
    """
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=tool_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise FaceopsError(f"`{args[0]}` is not installed or not on PATH") from None
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        stop_group(process, grace_seconds=5.0)
        raise DeadlineError(f"`{' '.join(args)}` did not finish within {seconds:g} s; it was stopped") from None
    except BaseException:
        stop_group(process)
        raise
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise FaceopsError(f"`{' '.join(args)}` failed: {last_error(result)}")
    return result


def stop_group(process: subprocess.Popen, grace_seconds: float = 20.0) -> None:
    """SIGTERM to the process and its children; SIGKILL for whatever of the group is left after `grace_seconds`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=grace_seconds)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is gone already
        pass
    process.communicate()


def git(*args: str, cwd: str | os.PathLike[str] = ".", check: bool = True) -> subprocess.CompletedProcess:
    return run(["git", *args], cwd, check)
