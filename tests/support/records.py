"""Helpers of tests/*/test_records.py, shared by its tiers."""

from __future__ import annotations

import time
import uuid

import pytest
from helpers import ACCESS_KEY, SECRET_KEY

from faceops.records.feedback import FaceRecord
from faceops.records.store import BucketStore, FolderStore


def _bucket(s3: str, flush_seconds: float = 0.0) -> BucketStore:
    """One replica's view of a fresh path in the bucket (its own s3fs client, as another process would have)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": s3}, skip_instance_cache=True
    )
    return BucketStore(fs, "faces/records-test", "test bucket", flush_seconds=flush_seconds)


@pytest.fixture(params=["folder", "bucket"])
def stores(request, tmp_path):
    """Two replicas' stores over the same records: one folder twice, or the same bucket path from two clients."""
    if request.param == "folder":
        yield FolderStore(tmp_path), FolderStore(tmp_path)
        return
    s3 = request.getfixturevalue("s3")
    first, second = _bucket(s3), _bucket(s3)
    root = f"faces/records-{uuid.uuid4().hex[:8]}"
    first.root = second.root = root
    yield first, second


def _record(face_id: str, when: float | None = None) -> FaceRecord:
    return FaceRecord(face_id, time.time() if when is None else when, "Ada", "Ada", 0.05, "v1")
