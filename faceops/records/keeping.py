"""Record keeping that never stands in the way of an answer.

Why: a full, read-only, unreachable or hanging record store used to turn every /predict into a 500 (or no
answer at all) while /health said "ok". Keeping a face for feedback and logging it for drift are
secondary: `RecordKeeper` gives each write a deadline, and after a failure answers without records (and
says why) until `retry_after` has passed, then tries again, so the service recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from faceops.core.errors import FaceopsError
from faceops.records.drift import log_recognitions
from faceops.records.feedback import FaceRecord, PendingStore
from faceops.records.store import FOLDER_LAYOUT, LOG_FILES, FolderStore, RecordStore

log = logging.getLogger(__name__)
T = TypeVar("T")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class RecordKeeper:
    """Keeps waiting crops and recognition-log lines, bounded in time; remembers why it last could not."""

    def __init__(
        self,
        pending: PendingStore,
        records: RecordStore,
        deadline: float = 5.0,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pending, self.records = pending, records
        self.deadline, self.retry_after, self.clock = deadline, retry_after, clock
        self.problem: str | None = None
        self._retry_at: float | None = None
        # Its own threads: a store that hangs holds these, never the threads that answer requests.
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="records")

    def _write(self, crops: Sequence[tuple[bytes, FaceRecord]], lines: list[dict]) -> None:
        self.pending.keep(crops)
        log_recognitions(self.records, lines)

    async def keep(self, crops: Sequence[tuple[bytes, FaceRecord]], lines: list[dict]) -> str | None:
        """Keep them; None when kept, else why not (the answer then goes out without feedback ids)."""
        if self.problem is not None and self._retry_at is not None and self.clock() < self._retry_at:
            return self.problem
        where = getattr(self.records, "where", "")
        try:
            future = asyncio.get_running_loop().run_in_executor(self._threads, self._write, crops, lines)
            await asyncio.wait_for(future, self.deadline)
        except asyncio.TimeoutError:
            return self._failed(f"the record store {where} did not answer within {self.deadline:g} s")
        except Exception as exc:  # any store fault: full, read-only, gone, refused
            return self._failed(f"the record store {where} failed: {_reason(exc)}")
        if self.problem is not None:
            log.warning("record store %s works again", where)
        self.problem = None
        return None

    async def bounded(self, call: Callable[..., T], *args: object) -> T:
        """`call(*args)` on the store's own threads; a store that does not answer within the deadline is a 503."""
        from faceops.records.feedback import RecordStoreError

        future = asyncio.get_running_loop().run_in_executor(self._threads, call, *args)
        try:
            return await asyncio.wait_for(future, self.deadline)
        except asyncio.TimeoutError:
            where = getattr(self.records, "where", "")
            raise RecordStoreError(f"the record store {where} did not answer within {self.deadline:g} s", 503) from None

    def _failed(self, reason: str) -> str:
        if reason != self.problem:
            log.error("%s; answering without feedback ids until it works again", reason)
        self.problem, self._retry_at = reason, self.clock() + self.retry_after
        return reason

    def health(self) -> dict:
        """What /health adds: nothing while records are kept, else `degraded` and why."""
        return {} if self.problem is None else {"status": "degraded", "records": self.problem}

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def check_usable(store: RecordStore) -> None:
    """Refuse, at start, a folder store that cannot hold records: a file where a folder must be, or read-only."""
    import os

    if not isinstance(store, FolderStore):
        return
    root = Path(store.root)
    folders = [root, *(root / sub for sub in FOLDER_LAYOUT.values())]
    folders += [(root / name).parent for name in LOG_FILES.values()]
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise FaceopsError(
                f"--records {store.where}: {folder} is not a folder; allowed: a folder records can go in"
            )
    for name in LOG_FILES.values():
        if (root / name).exists() and not (root / name).is_file():
            raise FaceopsError(f"--records {store.where}: {root / name} is not a file")
    if root.exists() and not os.access(root, os.W_OK | os.X_OK):
        raise FaceopsError(f"--records {store.where}: cannot write there (permission denied)")
