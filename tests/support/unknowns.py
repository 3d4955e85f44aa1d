"""Helpers of tests/*/test_unknowns.py, shared by its tiers."""

import time

import numpy as np
import pytest

from faceops.records.feedback import FaceRecord, PendingStore, crop_jpeg, new_id
from faceops.records.store import FolderStore
from faceops.records.unknowns import (
    Group,
    Grouping,
)


def _keep(store: FolderStore, name: str, label: str, at: float | None = None, model: str = "v1") -> str:
    """A face the service kept, as it keeps one: its crop, then its record."""
    record = FaceRecord(new_id(), at or time.time(), name, label, 0.61, model)
    rgb = np.random.default_rng(0).integers(0, 255, (90, 80, 3), dtype=np.uint8)
    PendingStore(store).keep([(crop_jpeg(rgb), record)])
    return record.id


def _grouping(store: FolderStore) -> tuple[Grouping, dict]:
    first = [_keep(store, "unknown", "Ann") for _ in range(3)]
    second = [_keep(store, "unknown", "Bob") for _ in range(3)]
    records = {r.id: r for r in PendingStore(store).waiting()}
    grouping = Grouping(
        time.time(),
        "v1",
        store.where,
        3,
        (Group(1, tuple(records[i] for i in first)), Group(2, tuple(records[i] for i in second))),
        (),
    )
    crops = {face_id: store.get(f"pending/{face_id}.jpg") for face_id in records}
    return grouping, crops


@pytest.fixture
def ungated(monkeypatch):
    """The intake gates let every crop through: these crops are noise, the grouping is what is tested here
    (tests/integration/test_intake_gates.py tests the gates on real faces)."""
    from faceops.data.gates import IntakeGate

    monkeypatch.setattr(IntakeGate, "check", lambda self, rgb, what: None)
