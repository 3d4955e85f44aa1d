"""The record store behind feedback and drift: a folder, and a bucket on a real S3-protocol server (moto)
that several service replicas share. Both must behave the same."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from helpers import ACCESS_KEY, SECRET_KEY, new_project, sh, tool_env
from support.records import _bucket, _record

from faceops.records.drift import log_recognitions, read_records
from faceops.records.feedback import PendingLimits, PendingStore, crop_jpeg
from faceops.records.store import FolderStore, open_store


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
