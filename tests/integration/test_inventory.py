"""Where person data lives (faceops.people.inventory) and forget as a journal: a person's whole life through every door,
then forget, then every file of the project, its record store, DVC's site cache and the DVC remote read for their
name and hashes; and a real `faceops forget` killed half-way, then finished by running it again."""

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import make_project, sh, tool_env
from support.inventory import NAME, _their_photos

from faceops.people.forget import clean_records, records_of
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore
from faceops.records.store import FolderStore, RecordStore

# -- the inventory's scan on its own -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "bucket"])
def test_the_record_store_keeps_nothing_that_names_them(kind, tmp_path, request):
    """Crops, verdicts and log lines naming them go, from a folder and from a bucket shared by replicas."""
    if kind == "folder":
        store = FolderStore(tmp_path)
    else:
        from support.records import _bucket

        store = _bucket(request.getfixturevalue("s3"))
        store.root = f"faces/records-{tmp_path.name[-12:]}"
    _records(store, NAME)
    _records(store, "Somebody_Else", "other")
    assert records_of(store, NAME)[1] == 1
    assert clean_records(store, NAME) == (2, 1)
    assert records_of(store, NAME) == ([], 0)
    assert [record.person for record in FeedbackStore(store).entries()] == ["Somebody_Else"]
    assert [line for line in store.lines("recognitions") if NAME in line] == []
    assert sum("Somebody_Else" in line for line in store.lines("recognitions")) == 3
    assert clean_records(store, NAME) == (0, 0)  # again: nothing, no error


def test_a_face_answered_while_they_were_hidden_goes_too(tmp_path):
    """A photo of them sent while the forget runs is answered unknown, and its crop kept closest to "unknown" (the
    service hides who was closest): it names nobody, yet it is their face. The forget takes it, and a stranger's
    crop (closest to someone still known) stays. Before, such a crop stayed behind a "verified" receipt."""
    store = FolderStore(tmp_path)
    masked = FaceRecord("0d0419de02be44bf", time.time(), "unknown", "unknown", 0.03, "v1")
    stranger = FaceRecord("5a5a5a5a5a5a5a5a", time.time(), "unknown", "Somebody_Else", 0.6, "v1")
    PendingStore(store).keep([(b"\xff\xd8 their face", masked), (b"\xff\xd8 a stranger", stranger)])
    reviewed = FaceRecord("7e7e7e7e7e7e7e7e", time.time(), "unknown", "unknown", 0.05, "v1", "is", "Somebody_Else")
    FeedbackStore(store).add(b"\xff\xd8 said to be someone else", reviewed)  # a reviewer's word: not theirs
    assert records_of(store, NAME)[0] == ["pending/0d0419de02be44bf.jpg", "pending/0d0419de02be44bf.json"]
    assert clean_records(store, NAME) == (1, 0)
    assert [record.id for record in PendingStore(store).waiting()] == ["5a5a5a5a5a5a5a5a"]
    assert [record.id for record in FeedbackStore(store).entries()] == ["7e7e7e7e7e7e7e7e"]


# -- forget is a journal --------------------------------------------------------------------------------


def _records(where: Path | RecordStore, person: str, verdict: str = "is") -> None:
    """What the service leaves of a person in a record store (a folder: the project's): a waiting crop, a
    verdict, log lines."""
    store = FolderStore(where) if isinstance(where, Path) else where
    record = FaceRecord(f"{verdict}0123456789ab", time.time(), person, person, 0.2, "v1")
    PendingStore(store).keep([(b"\xff\xd8 pending crop " + verdict.encode(), record)])
    late = FaceRecord(f"{verdict}fedcba987654", time.time(), person, person, 0.2, "v1", verdict, person)
    FeedbackStore(store).add(b"\xff\xd8 feedback crop " + verdict.encode(), late)
    store.append("recognitions", json.dumps({"time": 1.0, "name": person, "label": person}) + "\n")
    store.append("recognitions", json.dumps({"time": 1.0, "name": "unknown", "label": "Somebody_Else"}) + "\n")


@pytest.mark.parametrize(
    ("pause_after", "how"),
    [("workspace", signal.SIGKILL), ("model cards", signal.SIGTERM), ("dataset listing", signal.SIGINT)],
)
def test_a_killed_forget_is_finished_by_running_it_again(tmp_path, lfw, pause_after, how):
    project = make_project(tmp_path / "repo", lfw, people=2, images=3)
    shutil.copytree(_their_photos(lfw, tmp_path / "theirs", 3) / NAME, project / "dataset/raw" / NAME)
    sh("dvc", "add", "-q", "dataset/raw", cwd=project)
    _records(project, NAME)
    # FACEOPS_FORGET_PAUSE_AFTER is a hook for tests only: forget stops after that step until it is killed.
    env = tool_env() | {"FACEOPS_FORGET_PAUSE_AFTER": pause_after}
    forget = ["faceops", "forget", "--person", NAME, "--yes", "--no-retrain"]
    # SIGINT as at a terminal: a shell without job control (CI's `cmd &`) starts its children with SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler.
    process = subprocess.Popen(
        forget,
        cwd=project,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stderr:
        if line.startswith(f"paused after {pause_after}"):
            break
    process.send_signal(how)
    process.wait(timeout=30)
    if how == signal.SIGINT:
        assert process.returncode == 130
        assert f"interrupted: run faceops forget --person {NAME} --yes again to finish" in process.stderr.read()
    assert not (project / "receipts").exists(), "no receipt before the job is done"

    # Half-way: no door names or re-creates them.
    people = sh("faceops", "people", cwd=project).stdout
    assert f"| {NAME} |" in people and f"forget unfinished: faceops forget --person {NAME} --yes" in people
    listed = json.loads(sh("faceops", "people", "--json", cwd=project).stdout)
    assert [person["known"] for person in listed if person["name"] == NAME] == [False]
    enrol = sh(
        "faceops", "enrol", "--person", NAME, "--source", str(tmp_path / "theirs" / NAME), cwd=project, check=False
    )
    assert enrol.returncode == 1
    assert f"error: '{NAME}' is being forgotten" in enrol.stderr and "nothing was saved" in enrol.stderr
    _records(project, NAME, "late")  # a replica's verdict that arrives during the forget
    accept = sh("faceops", "feedback", "accept", "--all", cwd=project, check=False)
    assert accept.returncode == 1 and f"'{NAME}' is being forgotten" in accept.stderr
    assert not any((project / "dataset/raw/.negatives").glob(f"{NAME}/*"))
    plan = sh("faceops", "forget", "--person", NAME, cwd=project).stdout
    assert f"an unfinished forget of {NAME}" in plan and "run again with --yes to finish it" in plan

    # Running the same command again finishes the job and writes the receipt.
    again = sh(*forget, cwd=project)
    assert "verified by a second search: nothing of them is left" in again.stdout
    [receipt] = (project / "receipts").glob(f"forget-{NAME}-*.json")
    body = json.loads(receipt.read_text())
    assert body["verified"] and any("record store" in line for line in body["checked"])
    assert any(item["place"] == "feedback" for item in body["removed"])
    assert not (project / ".faceops/forget").exists() or not any((project / ".faceops/forget").iterdir())
    assert not (project / "dataset/raw" / NAME).exists()
    for folder in (".faceops/pending", ".faceops/feedback"):
        assert all(NAME not in path.read_text(errors="replace") for path in (project / folder).iterdir())
    log = (project / "logs/recognitions.jsonl").read_text()
    assert NAME not in log and "Somebody_Else" in log  # only their lines went
    assert NAME not in sh("faceops", "people", cwd=project).stdout

    # Afterwards: re-enrolling them takes an explicit option.
    enrol = sh(
        "faceops", "enrol", "--person", NAME, "--source", str(tmp_path / "theirs" / NAME), cwd=project, check=False
    )
    assert enrol.returncode == 1 and f"'{NAME}' was forgotten" in enrol.stderr and "--re-enrol" in enrol.stderr


# -- a whole life through every door, then forget ------------------------------------------------------
