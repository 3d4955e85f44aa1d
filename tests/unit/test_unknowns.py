"""`faceops unknowns`: faces answered "unknown" in groups, and a group enrolled; no server or model needed here
(tests/e2e/test_admin.py does it for real, through `faceops serve`, with LFW strangers)."""

import time

import pytest
from support.unknowns import _grouping, _keep

from faceops.core.errors import FaceopsError
from faceops.records.feedback import PendingLimits, PendingStore
from faceops.records.store import FolderStore
from faceops.records.unknowns import (
    enrol_group,
    read_grouping,
    unknown_faces,
    write_sheet,
)


def test_only_waiting_faces_answered_unknown_of_no_hidden_person_are_grouped(tmp_path):
    store = FolderStore(tmp_path)
    stranger = _keep(store, "unknown", "Ann")
    _keep(store, "Ann", "Ann")  # named: not unknown
    _keep(store, "unknown", "unknown")  # the closest person was forgotten when it was answered
    _keep(store, "unknown", "Bob")  # Bob is forgotten since
    _keep(store, "unknown", "Ann", at=time.time() - PendingLimits().ttl_seconds - 60)  # expired
    faces = unknown_faces(store, hidden={"Bob"})
    assert [face.record.id for face in faces] == [stranger] and faces[0].jpeg.startswith(b"\xff\xd8")


def test_the_sheet_and_the_groups_file_say_the_same(tmp_path):
    store = FolderStore(tmp_path)
    grouping, crops = _grouping(store)
    write_sheet(grouping, crops, tmp_path / "reports/unknowns.html", tmp_path / "reports/unknowns.json")
    assert read_grouping(tmp_path / "reports/unknowns.json") == grouping
    page = (tmp_path / "reports/unknowns.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 6 and "faceops unknowns enrol 2 --person NAME" in page
    assert "http" not in page  # nothing to fetch: it works offline
    with pytest.raises(FaceopsError, match=r"no group 3 in g.json \(groups: 1, 2\)"):
        grouping.group(3, "g.json")
    with pytest.raises(FaceopsError, match="no groups yet: run `faceops unknowns` first"):
        read_grouping(tmp_path / "nothing.json")


def test_a_group_becomes_photos_of_a_person_through_the_feedback_path(tmp_path, ungated):
    store = FolderStore(tmp_path)
    grouping, _ = _grouping(store)
    group = grouping.group(1, "g.json")
    store.delete(f"pending/{group.faces[0].id}.json")  # expired meanwhile
    raw = tmp_path / "raw"
    saved, gone, refused = enrol_group(store, group, "Cleo", raw, raw / ".negatives", hidden=set())
    assert gone == 1 and not refused and sorted(p.name for p in saved) == ["Cleo_0001.jpg", "Cleo_0002.jpg"]
    assert not list((tmp_path / ".faceops/feedback").iterdir())  # accepted: no verdict left waiting
    assert {r.id for r in PendingStore(store).waiting()} == {face.id for face in grouping.group(2, "g").faces}
    with pytest.raises(FaceopsError, match="none of the 3 faces of group 1 waits any more"):
        enrol_group(store, group, "Cleo", tmp_path / "raw", tmp_path / "raw/.negatives", hidden=set())
    other = grouping.group(2, "g.json")
    with pytest.raises(FaceopsError, match="none of the 3 faces of group 2"):  # closest to someone forgotten since
        enrol_group(store, other, "Cleo", tmp_path / "raw", tmp_path / "raw/.negatives", hidden={"Bob"})
