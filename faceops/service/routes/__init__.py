"""The service's routes, one module a resource; each module's `router(service)` gives its FastAPI router.

`Service` is what the routes share: the live model, the worker processes, the record keeping, the data set
folder enrolled photos go to, and the upload limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceops.records.feedback import FeedbackStore, PendingStore
from faceops.records.keeping import RecordKeeper
from faceops.records.store import RecordStore
from faceops.service.holder import ModelHolder
from faceops.service.transport import Limits
from faceops.service.workers import Workers


@dataclass(frozen=True)
class Service:
    """One running service's parts, built by `create_app` and closed when it stops."""

    pending: PendingStore
    feedback: FeedbackStore
    keeper: RecordKeeper  # a failing store costs the feedback ids, never the answer
    holder: ModelHolder
    workers: Workers
    records: RecordStore
    raw: Path  # enrolled photos, one folder per person, as `faceops capture` writes them
    limits: Limits

    def close(self) -> None:
        self.workers.close()
        self.holder.close()
        self.keeper.close()
        self.records.close()  # a bucket store writes the log lines it still buffers
