"""`faceops unknowns`: faces answered "unknown" in groups, and a group enrolled; no server or model needed here
(tests/test_admin.py does it for real, through `faceops serve`, with LFW strangers)."""

import json
import time

import numpy as np
import pytest
from test_drift import _card

from faceops.cli.main import main
from faceops.core.errors import FaceopsError
from faceops.records.feedback import FaceRecord, PendingLimits, PendingStore, crop_jpeg, new_id
from faceops.records.store import FolderStore
from faceops.records.unknowns import (
    Group,
    Grouping,
    enrol_group,
    group_rows,
    read_grouping,
    unknown_faces,
    write_sheet,
)


def _around(centre: np.ndarray, count: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    return centre + spread * rng.standard_normal((count, centre.size))


def test_two_strangers_make_two_groups_and_one_alone_makes_one():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(128), rng.standard_normal(128)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    mixed = np.concatenate([_around(a, 9, 0.01, rng), _around(b, 6, 0.01, rng), rng.standard_normal((2, 128))])
    groups = group_rows(mixed, threshold=0.1)
    assert [sorted(g.tolist()) for g in groups] == [list(range(9)), list(range(9, 15))]  # the largest first
    alone = group_rows(_around(a, 5, 0.01, rng), threshold=0.1)  # HDBSCAN alone: all noise
    assert [len(g) for g in groups[:1]] == [9] and [sorted(g.tolist()) for g in alone] == [list(range(5))]
    assert group_rows(_around(a, 2, 0.01, rng), threshold=0.1) == []  # fewer than a group's least size


def _keep(store: FolderStore, name: str, label: str, at: float | None = None, model: str = "v1") -> str:
    """A face the service kept, as it keeps one: its crop, then its record."""
    record = FaceRecord(new_id(), at or time.time(), name, label, 0.61, model)
    rgb = np.random.default_rng(0).integers(0, 255, (90, 80, 3), dtype=np.uint8)
    PendingStore(store).keep([(crop_jpeg(rgb), record)])
    return record.id


def test_only_waiting_faces_answered_unknown_of_no_hidden_person_are_grouped(tmp_path):
    store = FolderStore(tmp_path)
    stranger = _keep(store, "unknown", "Ann")
    _keep(store, "Ann", "Ann")  # named: not unknown
    _keep(store, "unknown", "unknown")  # the closest person was forgotten when it was answered
    _keep(store, "unknown", "Bob")  # Bob is forgotten since
    _keep(store, "unknown", "Ann", at=time.time() - PendingLimits().ttl_seconds - 60)  # expired
    faces = unknown_faces(store, hidden={"Bob"})
    assert [face.record.id for face in faces] == [stranger] and faces[0].jpeg.startswith(b"\xff\xd8")


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


@pytest.fixture
def ungated(monkeypatch):
    """The intake gates let every crop through: these crops are noise, the grouping is what is tested here
    (tests/test_intake_gates.py tests the gates on real faces)."""
    from faceops.data.capture import IntakeGate

    monkeypatch.setattr(IntakeGate, "check", lambda self, rgb, what: None)


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


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with a live card (Ann, Bob) and a photo folder of Ann; commands run in it."""
    monkeypatch.chdir(tmp_path)
    _card().write(tmp_path / "models/model.json")
    (tmp_path / "dataset/raw/Ann").mkdir(parents=True)
    return tmp_path


def _run(capsys, *argv: str) -> tuple[int, str]:
    """The exit code and the last line on stderr (argparse's errors exit through SystemExit, after a usage line)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    error = capsys.readouterr().err.strip()
    return code, error.splitlines()[-1] if error else ""


def test_no_unknowns_yet_is_one_line(project, capsys):
    _keep(FolderStore(project), "Ann", "Ann")  # a face, but a named one
    code, error = _run(capsys, "unknowns")
    assert code == 1 and error.startswith("error: no face answered unknown waits in .") and "\n" not in error


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["enrol", "1", "--person", "Cleo"], 1, "error: reports/unknowns.json: no groups yet: run `faceops unknowns`"),
        (["enrol", "--person", "Cleo"], 2, "error: name the group and the person: faceops unknowns enrol GROUP"),
        (["list", "--person", "Cleo"], 2, "error: a group and --person go with enrol"),
    ],
)
def test_enrol_without_groups_or_a_group_is_one_line(project, capsys, argv, code, message):
    result = _run(capsys, "unknowns", *argv)
    assert result[0] == code and result[1].startswith(message), result


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["enrol", "7", "--person", "Cleo"], 1, "error: no group 7 in reports/unknowns.json (groups: 1, 2)"),
        (["enrol", "1", "--person", "../x"], 2, "argument --person: person name '../x' contains a path separator"),
        (["enrol", "1", "--person", "ann"], 2, "error: --person: 'ann' is another spelling of the existing person"),
        (["enrol", "1", "--person", "Dora"], 1, "error: 'Dora' was forgotten (see receipts/forget-Dora-*.txt)"),
        (["enrol", "x", "--person", "Cleo"], 2, "argument group: 'x' is not a whole number of 1 or more"),
    ],
)
def test_bad_enrolments_are_one_line_and_change_nothing(project, capsys, argv, code, message):
    store = FolderStore(project)
    grouping, crops = _grouping(store)
    write_sheet(grouping, crops, project / "reports/unknowns.html", project / "reports/unknowns.json")
    (project / "receipts").mkdir()
    (project / "receipts/forget-Dora-20260101T000000Z.json").write_text(json.dumps({"person": "Dora"}))
    before = sorted(p.name for p in (project / ".faceops/pending").iterdir())
    result = _run(capsys, "unknowns", *argv)
    assert result[0] == code and message in result[1], result
    assert sorted(p.name for p in (project / ".faceops/pending").iterdir()) == before
    assert sorted(p.name for p in (project / "dataset/raw").iterdir()) == ["Ann"]


def test_enrol_files_the_group_in_dataset_raw_and_drops_it_from_the_sheet(project, capsys, ungated):
    store = FolderStore(project)
    grouping, crops = _grouping(store)
    write_sheet(grouping, crops, project / "reports/unknowns.html", project / "reports/unknowns.json")
    code = main(["unknowns", "enrol", "2", "--person", "Cleo"])
    out = capsys.readouterr().out
    assert code == 0 and "3 photos of Cleo added to dataset/raw/Cleo from group 2" in out
    assert len(list((project / "dataset/raw/Cleo").glob("Cleo_*.jpg"))) == 3
    assert [g.number for g in read_grouping(project / "reports/unknowns.json").groups] == [1]
    assert "enrol 2 --person" not in (project / "reports/unknowns.html").read_text()
