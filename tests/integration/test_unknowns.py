"""`faceops unknowns`: faces answered "unknown" in groups, and a group enrolled; no server or model needed here
(tests/e2e/test_admin.py does it for real, through `faceops serve`, with LFW strangers)."""

import json

import numpy as np
import pytest
from support.drift import _card
from support.unknowns import _grouping, _keep

from faceops.cli.main import main
from faceops.records.store import FolderStore
from faceops.records.unknowns import (
    group_rows,
    read_grouping,
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
