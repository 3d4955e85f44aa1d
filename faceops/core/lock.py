"""One writer at a time: the project lock every command that changes the project takes.

Why: two commands that change dataset/raw, dvc.lock or the git branch at once leave a mix of both (two
`faceops retrain` once left an unrequested commit on the user's branch). The lock is an advisory
`flock` on .faceops/lock, so the kernel releases it when its holder dies, however it dies; the file
also says who holds it (command, PID, since when) for the one that waits, and a holder that died
without tidying up is taken over with a note. Readers (list, people, monitor, predict) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT

LOCK_FILE = LAYOUT.lock
HELD_ENV = "FACEOPS_LOCK_HELD"  # set while held, so a faceops command our command starts does not wait for us
BUSY_EXIT = 2
NAMING_GRACE_SECONDS = 2.0  # how long a lock found taken may stay unnamed before we call its holder unknown


class ProjectBusyError(FaceopsError):
    """Another command holds the project lock and we were told not to wait (`--no-wait`)."""


@dataclass(frozen=True)
class Holder:
    command: str
    pid: int
    since: str  # ISO time, UTC

    def describe(self) -> str:
        return f"`{self.command}` (PID {self.pid}, since {self.since})"


def read_holder(root: str | os.PathLike[str] = ".") -> Holder | None:
    """Who the lock file names, or None; a reader's view, taken without the lock."""
    try:
        data = json.loads((Path(root) / LOCK_FILE).read_text() or "null")
        return Holder(str(data["command"]), int(data["pid"]), str(data["since"])) if data else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def project_lock(
    command: str, root: str | os.PathLike[str] = ".", wait: bool = True, poll_seconds: float = 0.2
) -> Iterator[Holder]:
    """Hold the project lock for the block; wait for its holder (saying who) or, without `wait`, raise
    ProjectBusyError."""
    holder = read_holder(root)
    if holder is not None and os.environ.get(HELD_ENV) == str(holder.pid) and _alive(holder.pid):
        yield holder  # held by this process, or by the command that started this one
        return
    path = Path(root) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, root, wait, poll_seconds)
        previous = read_holder(root)
        if previous is not None and previous.pid != os.getpid() and not _alive(previous.pid):
            print(f"note: took over the project lock left by {previous.describe()}, which is gone", file=sys.stderr)
        holder = Holder(command, os.getpid(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        os.environ[HELD_ENV] = str(os.getpid())
        try:
            yield holder
        finally:
            os.environ.pop(HELD_ENV, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, root: str | os.PathLike[str], wait: bool, poll_seconds: float) -> None:
    """flock, polling (so Ctrl-C stays immediate); one message when we start waiting, naming the holder.

    A holder writes its name just after it takes the lock, so a command started at the same moment finds the file
    still empty: it keeps trying for NAMING_GRACE_SECONDS before it calls the holder "another faceops command"."""
    told = False
    unnamed_until = time.monotonic() + NAMING_GRACE_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = read_holder(root)
            if holder is None and not told and time.monotonic() < unnamed_until:
                time.sleep(0.02)
                continue
            who = holder.describe() if holder else "another faceops command"
            if not wait:
                raise ProjectBusyError(f"the project is busy: {who} is changing it; try again when it ends") from None
            if not told:
                print(f"waiting for {who} to finish (it holds {LOCK_FILE}; --no-wait to give up)", file=sys.stderr)
                told = True
            time.sleep(poll_seconds)
