"""The record store behind feedback and drift: a folder, and a bucket on a real S3-protocol server (moto)
that several service replicas share. Both must behave the same."""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.records import _record

from faceops.core.errors import FaceopsError
from faceops.records.drift import log_recognitions, read_records
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingLimits, PendingStore, UnknownFaceError, crop_jpeg
from faceops.records.store import FolderStore


def test_a_crop_kept_by_one_replica_is_taken_once_through_another(stores):
    one, other = stores
    crop = crop_jpeg(np.full((40, 30, 3), 128, dtype="uint8"))
    PendingStore(one).keep([(crop, _record("a1b2"))])
    data, record = PendingStore(other).take("a1b2")
    assert data == crop and record.name == "Ada"
    with pytest.raises(UnknownFaceError, match="face a1b2 is unknown or expired"):
        PendingStore(one).take("a1b2")
    with pytest.raises(FaceopsError, match="'../x' is not a face id"):
        PendingStore(one).take("../x")

    feedback = FeedbackStore(one)
    feedback.add(data, FaceRecord("a1b2", record.time, "Ada", "Ada", 0.05, "v1", "not", "Bob"))
    [waiting] = FeedbackStore(other).entries()
    assert (waiting.verdict, waiting.person) == ("not", "Bob")
    assert FeedbackStore(other).thumbnail("a1b2").endswith("a1b2.jpg")
    FeedbackStore(other).discard([waiting])
    assert FeedbackStore(one).entries() == []


def test_pending_crops_expire_and_are_capped(stores):
    store, _ = stores
    limits = PendingLimits(ttl_seconds=3600, max_items=3, max_bytes=10**9)
    pending = PendingStore(store, limits, prune_every=3600)
    crop = crop_jpeg(np.zeros((20, 20, 3), dtype="uint8"))

    def waiting() -> int:
        return len({entry.key.split(".")[0] for entry in store.entries("pending/")})

    pending.keep([(crop, _record(f"f{index}")) for index in range(5)])  # the first keep prunes at once
    assert waiting() == 3  # the count cap
    pending.keep([(crop, _record(f"g{index}")) for index in range(2)])  # not again within prune_every
    assert waiting() == 5
    assert pending.prune() == 2
    assert pending.prune(now=time.time() + 7200) == 3  # all expired
    assert store.entries("pending/") == []
    pending.keep([(crop, _record("old", when=time.time() - 7200))])
    with pytest.raises(UnknownFaceError, match="face old expired"):
        pending.take("old")


def test_the_folder_log_rotates_by_size_and_reads_oldest_first(tmp_path):
    store = FolderStore(tmp_path, max_log_bytes=200, keep=2)
    for index in range(12):
        log_recognitions(store, [{"time": index, "name": "Ada", "label": "Ada", "distance": 0.1, "model": "v"}])
    files = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert files == ["recognitions.jsonl", "recognitions.jsonl.1", "recognitions.jsonl.2"]
    times = [record["time"] for record in read_records(store, 0)]
    assert times == sorted(times) and times[-1] == 11 and len(times) < 12  # the oldest rotated out


def test_of_many_threads_taking_one_crop_from_a_folder_exactly_one_gets_it(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    pending = PendingStore(FolderStore(tmp_path))
    pending.keep([(crop_jpeg(np.zeros((20, 20, 3), dtype="uint8")), _record("c0ffee"))])

    def take(_: int) -> bool:
        try:
            pending.take("c0ffee")
            return True
        except UnknownFaceError:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take, range(16))) == 1
