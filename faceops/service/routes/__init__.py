"""The service's routes, one module a resource; each module's `router(service)` gives its FastAPI router.

`Service` is what the routes share: the live model, the worker processes, the record keeping, the data set
folder enrolled photos go to, the upload limits, the metrics (/metrics) and the events sent out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from faceops.records.feedback import FeedbackStore, PendingStore
from faceops.records.keeping import RecordKeeper
from faceops.records.store import RecordStore
from faceops.service.holder import ModelHolder
from faceops.service.metrics import ServiceMetrics
from faceops.service.notify import Notifier
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
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    notifier: Notifier = field(default_factory=Notifier)  # events: off unless create_app is given settings

    def close(self) -> None:
        self.notifier.close()  # what is queued goes out within 2 s, then `offline`
        self.workers.close()
        self.holder.close()
        self.keeper.close()
        self.records.close()  # a bucket store writes the log lines it still buffers
