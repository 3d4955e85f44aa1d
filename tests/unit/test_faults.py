"""Faults around the service and the report: a slow mail server, record stores that fail or hang."""

import asyncio
import errno
import os
import time

import pytest
from support.faults import FaultyFolder, _keeper, _waiting

from faceops.core.errors import FaceopsError
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore, RecordStoreError
from faceops.records.keeping import check_usable
from faceops.records.store import FolderStore

# --- write before remove, and record keeping that never stands in the way -----------------------------


@pytest.mark.parametrize("fault, status", [(errno.ENOSPC, 507), (errno.EROFS, 503)])
def test_feedback_write_fails_and_the_face_still_waits(tmp_path, fault, status):
    store = FaultyFolder(tmp_path)
    face_id = _waiting(store)
    store.fault = fault
    with pytest.raises(RecordStoreError) as caught:
        PendingStore(store).move_to_feedback(face_id, "is", "Ann", FeedbackStore(store))
    assert caught.value.status == status
    assert str(caught.value) == (
        f"the record store could not keep the verdict on face {face_id} (it still waits; try again): "
        f"{os.strerror(fault)}"
    )
    assert sorted(p.name for p in (tmp_path / ".faceops/pending").iterdir()) == [f"{face_id}.jpg", f"{face_id}.json"]
    assert not FeedbackStore(store).entries()
    store.fault = None  # space again: the same verdict goes through
    PendingStore(store).move_to_feedback(face_id, "is", "Ann", FeedbackStore(store))
    assert [r.person for r in FeedbackStore(store).entries()] == ["Ann"]
    assert not list((tmp_path / ".faceops/pending").iterdir())


def test_half_a_feedback_pair_is_removed_again(tmp_path):
    """The crop went in, the verdict did not (ENOSPC injected on the .json): no orphan crop is left."""
    store = FaultyFolder(tmp_path, prefix="feedback/c0ffee01.json")
    face_id = _waiting(store)
    store.fault = errno.ENOSPC
    with pytest.raises(RecordStoreError):
        PendingStore(store).move_to_feedback(face_id, "not", "Ann", FeedbackStore(store))
    assert not list((tmp_path / ".faceops/feedback").iterdir())


def test_keeper_answers_without_records_and_recovers_by_itself(tmp_path):
    store, now = FaultyFolder(tmp_path, prefix="pending/"), [100.0]
    keeper = _keeper(store, now)
    record = FaceRecord("c0ffee02", time.time(), "Ann", "Ann", 0.3, "v1")
    store.fault = errno.ENOSPC
    reason = asyncio.run(keeper.keep([(b"jpeg", record)], []))
    assert reason == f"the record store {tmp_path} failed: No space left on device: pending/c0ffee02.jpg"
    assert keeper.health() == {"status": "degraded", "records": reason}
    store.fault = None
    now[0] += 1  # too soon: not tried again
    assert asyncio.run(keeper.keep([(b"jpeg", record)], [])) == reason
    now[0] += 5
    assert asyncio.run(keeper.keep([(b"jpeg", record)], [])) is None and keeper.health() == {}


@pytest.mark.parametrize("layout", ["file", "logs-file", "pending-file"])
def test_records_that_cannot_hold_records_are_refused_at_start(tmp_path, layout):
    root = tmp_path / "records"
    if layout == "file":
        root.write_text("x")
        bad = root
    else:
        root.mkdir()
        bad = root / ("logs" if layout == "logs-file" else ".faceops/pending")
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_text("x")
    with pytest.raises(FaceopsError) as caught:
        check_usable(FolderStore(root))
    assert str(caught.value) == f"--records {root}: {bad} is not a folder; allowed: a folder records can go in"


@pytest.mark.parametrize("foreign", ["device", "fifo", "huge"])
def test_a_foreign_file_in_place_of_a_crop_is_no_face_not_a_read_without_end(tmp_path, foreign):
    """Found trying new faults: a pending crop made a link to /dev/zero, and `POST /feedback` for its id read until
    the memory ran out. Now a crop that is not a small regular file is as good as gone: 404 unknown, and listed
    nowhere."""
    from faceops.records.feedback import UnknownFaceError
    from faceops.records.store import MAX_OBJECT_BYTES

    store = FolderStore(tmp_path)
    face_id = _waiting(store)
    crop = tmp_path / ".faceops/pending" / f"{face_id}.jpg"
    crop.unlink()
    if foreign == "device":
        crop.symlink_to("/dev/zero")
    elif foreign == "fifo":
        os.mkfifo(crop)  # nobody writes: an open that waited would wait for ever
    else:
        with open(crop, "wb") as handle:
            handle.truncate(MAX_OBJECT_BYTES + 1)  # sparse: no disk used
    started = time.monotonic()
    with pytest.raises(UnknownFaceError, match=f"face {face_id} is unknown or expired"):
        PendingStore(store).take(face_id)
    assert time.monotonic() - started < 5
