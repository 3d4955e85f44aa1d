"""Helpers of tests/*/test_faults.py, shared by its tiers."""

import os
import time

from faceops.records.feedback import FaceRecord, PendingStore
from faceops.records.keeping import RecordKeeper
from faceops.records.store import FolderStore


class FaultyFolder(FolderStore):
    """A real folder store, with a fault INJECTED at its write boundary: `fault` (an errno) makes every put
    under `prefix` fail as a full (ENOSPC) or read-only (EROFS) filesystem would. Mounting a real full
    filesystem needs privileges these tests do not have; the service test uses a real write failure."""

    def __init__(self, root, prefix="feedback/"):
        super().__init__(root)
        self.prefix, self.fault, self.slow = prefix, None, 0.0

    def put(self, key, data):
        time.sleep(self.slow)
        if self.fault and key.startswith(self.prefix):
            raise OSError(self.fault, os.strerror(self.fault), key)
        super().put(key, data)


def _waiting(store, face_id="c0ffee01"):
    record = FaceRecord(face_id, time.time(), "Ann", "Ann", 0.3, "v1")
    PendingStore(store).keep([(b"jpeg bytes", record)])
    return face_id


def _keeper(store, now):
    return RecordKeeper(PendingStore(store, prune_every=1e9), store, deadline=0.5, retry_after=5, clock=lambda: now[0])
