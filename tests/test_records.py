"""The record store behind feedback and drift: a folder, and a bucket on a real S3-protocol server (moto)
that several service replicas share. Both must behave the same."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from helpers import ACCESS_KEY, SECRET_KEY, new_project, sh, tool_env

from faceops.core.errors import FaceopsError
from faceops.records.drift import log_recognitions, read_records
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingLimits, PendingStore, UnknownFaceError, crop_jpeg
from faceops.records.store import BucketStore, FolderStore, open_store


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


def test_the_first_keep_prunes_on_a_host_booted_a_second_ago(stores):
    """time.monotonic() starts near 0 at boot: "never pruned" must not read as "pruned at 0.0"."""
    store, _ = stores
    clock = iter([1.0, 1.5, 3700.0])
    limits = PendingLimits(ttl_seconds=3600, max_items=1, max_bytes=10**9)
    pending = PendingStore(store, limits, prune_every=3600, clock=lambda: next(clock))
    crop = crop_jpeg(np.zeros((20, 20, 3), dtype="uint8"))

    def waiting() -> int:
        return len({entry.key.split(".")[0] for entry in store.entries("pending/")})

    pending.keep([(crop, _record(f"f{index}")) for index in range(3)])  # at 1 s: pruned, never before
    assert waiting() == 1
    pending.keep([(crop, _record("g"))])  # at 1.5 s: within prune_every
    assert waiting() == 2
    pending.keep([(crop, _record("h"))])  # an hour later: pruned again
    assert waiting() == 1


def test_every_replicas_recognitions_are_read(stores):
    one, other = stores
    now = time.time()
    log_recognitions(one, [{"time": now, "name": "Ada", "label": "Ada", "distance": 0.1, "model": "v1"}])
    log_recognitions(other, [{"time": now, "name": "unknown", "label": "Bob", "distance": 0.9, "model": "v1"}])
    log_recognitions(other, [{"time": now - 86400 * 30, "name": "Bob", "label": "Bob", "distance": 0.1, "model": "v1"}])
    one.close()
    other.close()
    assert sorted(record["label"] for record in read_records(one, now - 3600)) == ["Ada", "Bob"]
    assert len(read_records(other, 0)) == 3


def test_a_bucket_replica_buffers_its_log_until_due_or_closed(s3):
    store = _bucket(s3, flush_seconds=3600)
    store.root = f"faces/records-{uuid.uuid4().hex[:8]}"
    log_recognitions(store, [{"time": time.time(), "name": "Ada", "label": "Ada", "distance": 0.1, "model": "v"}])
    assert read_records(store, 0) == []  # one object per flush, not per request
    store.close()
    assert len(read_records(store, 0)) == 1


def test_the_folder_log_rotates_by_size_and_reads_oldest_first(tmp_path):
    store = FolderStore(tmp_path, max_log_bytes=200, keep=2)
    for index in range(12):
        log_recognitions(store, [{"time": index, "name": "Ada", "label": "Ada", "distance": 0.1, "model": "v"}])
    files = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert files == ["recognitions.jsonl", "recognitions.jsonl.1", "recognitions.jsonl.2"]
    times = [record["time"] for record in read_records(store, 0)]
    assert times == sorted(times) and times[-1] == 11 and len(times) < 12  # the oldest rotated out


def test_a_dvc_remote_names_the_bucket(tmp_path, s3, monkeypatch):
    project = new_project(tmp_path / "repo")
    sh("dvc", "remote", "add", "--local", "shared", "s3://faces/store", cwd=project)
    sh("dvc", "remote", "modify", "--local", "shared", "endpointurl", s3, cwd=project)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    store = open_store("remote://shared/records", project)
    assert store.where == "remote://shared/records (s3://faces/store/records)"
    store.put("feedback/x.json", b"{}")
    assert json.loads(store.get("feedback/x.json")) == {}
    assert isinstance(open_store(None, project), FolderStore)


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ("s3://faces/x", "--records 's3://faces/x': allowed: a folder, or remote://NAME/PATH"),
        ("remote://nowhere/x", "--records 'remote://nowhere/x': the DVC remote 'nowhere' cannot be used"),
    ],
)
def test_a_bad_place_is_one_line(tmp_path, place, message):
    project = new_project(tmp_path / "repo")
    result = sh("faceops", "feedback", "list", "--records", place, cwd=project, check=False, env=tool_env())
    assert result.returncode == 1 and message in result.stderr


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
