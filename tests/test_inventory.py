"""Where person data lives (faceops.people.inventory) and forget as a journal: a person's whole life through every door,
then forget, then every file of the project, its record store, DVC's site cache and the DVC remote read for their
name and hashes; and a real `faceops forget` killed half-way, then finished by running it again."""

import hashlib
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import free_port, make_project, sh, tool_env

from faceops.people.forget import clean_records, records_of
from faceops.people.inventory import CANNOT, CLEANED, KEPT, Needles, places_for, scan
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore
from faceops.records.store import FolderStore, RecordStore

NAME = "Quentin_Forgetme"  # a name no source file holds, so that any finding is data of theirs
SOURCE = "Gerhard_Schroeder"  # whose LFW photos they are given


def _digests(path: Path) -> set[str]:
    data = path.read_bytes()
    return {hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()}


def _their_photos(lfw: Path, folder: Path, count: int) -> Path:
    """LFW photos of SOURCE, filed as NAME in a folder tree for import-folder."""
    (folder / NAME).mkdir(parents=True)
    for index, photo in enumerate(sorted((lfw / SOURCE).iterdir())[:count]):
        shutil.copy(photo, folder / NAME / f"{NAME}_{index:04d}.jpg")
    return folder


# -- the inventory's scan on its own -------------------------------------------------------------------


def test_scan_names_the_place_of_each_finding(tmp_path):
    project, photo = tmp_path / "project", b"\xff\xd8 a photo of theirs"
    files = {
        f"dataset/raw/{NAME}/a.jpg": photo,
        "data/split.csv": f"path,person\nx.png,{NAME}\n".encode(),
        f"receipts/forget-{NAME}-20260101T000000Z.json": json.dumps({"person": NAME}).encode(),
        ".git/logs/HEAD": f"commit: capture: 4 photos of {NAME}\n".encode(),
        "notes/elsewhere.txt": f"met {NAME} today".encode(),  # a place no one told the inventory about
        "backup/copy.bin": photo,  # their photo under another name
        "data/faces.csv": b"path,person\nx.png,Somebody_Else\n",  # nothing of theirs
    }
    for relpath, data in files.items():
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_bytes(data)
    crop_sha = "ab" * 32
    (project / ".faceops/features").mkdir(parents=True)
    np.savez_compressed(project / ".faceops/features/t.npz", sha256=np.array([crop_sha]), features=np.zeros((1, 2)))
    needles = Needles(NAME, frozenset({hashlib.sha256(photo).hexdigest()}), frozenset({crop_sha}))

    hits, count = scan({"project": project}, needles, places_for(NAME))
    found = {hit.path: (hit.place.name if hit.place else None, hit.why) for hit in hits}
    assert count == len(files) + 1
    assert found == {
        f"dataset/raw/{NAME}/a.jpg": ("photos", "a copy of their photo or crop"),
        "data/split.csv": ("stage outputs", "names them"),
        f"receipts/forget-{NAME}-20260101T000000Z.json": ("receipts", "names them"),
        ".git/logs/HEAD": ("git history", "names them"),
        "notes/elsewhere.txt": (None, "names them"),
        "backup/copy.bin": (None, "a copy of their photo or crop"),
        ".faceops/features/t.npz": ("feature cache", f"names the hash {crop_sha}"),
    }
    handling = {place.name: place.handling for place in places_for(NAME)}
    assert handling["git history"] == CANNOT and handling["receipts"] == KEPT and handling["photos"] == CLEANED


@pytest.mark.parametrize("kind", ["folder", "bucket"])
def test_the_record_store_keeps_nothing_that_names_them(kind, tmp_path, request):
    """Crops, verdicts and log lines naming them go, from a folder and from a bucket shared by replicas."""
    if kind == "folder":
        store = FolderStore(tmp_path)
    else:
        from test_records import _bucket

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
    process = subprocess.Popen(forget, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
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


def _post(url: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url + path, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _upload(url: str, path: str, photo: bytes) -> tuple[int, dict]:
    boundary = "faceopsboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return _post(url, path, body, f"multipart/form-data; boundary={boundary}")


def _serve(project: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(project.parent / "serve.log", "w")  # noqa: SIM115 - closed with the process; outside the project
    process = subprocess.Popen(
        ["faceops", "serve", "--port", str(port)], cwd=project, env=tool_env(), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return process, url
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, (project.parent / "serve.log").read_text()
            time.sleep(0.5)
    process.kill()
    pytest.fail("faceops serve did not start")


def _needles(project: Path) -> Needles:
    """Their name and the hashes of every file of theirs: photos, crops, waiting and reviewed crops."""
    files = [*(project / "dataset/raw" / NAME).iterdir(), *(project / "data/faces" / NAME).iterdir()]
    for folder in (".faceops/pending", ".faceops/feedback"):
        for record in (project / folder).glob("*.json"):
            if NAME in record.read_text():
                files.append(record.with_suffix(".jpg"))
    hashes = set().union(*(_digests(path) for path in files if path.exists()))
    return Needles(NAME, frozenset(hashes), frozenset(h for h in hashes if len(h) == 64))


@pytest.mark.slow
def test_a_whole_life_then_forget_leaves_nothing_outside_the_inventory(tmp_path, lfw):
    project = make_project(tmp_path / "repo", lfw, people=3, images=10, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "remote", "add", "--local", "--default", "store", str(tmp_path / "remote"), cwd=project)
    theirs = sorted((lfw / SOURCE).iterdir())
    sh("faceops", "import-folder", str(_their_photos(lfw, tmp_path / "import", 8)), cwd=project)  # door: import
    sh("dvc", "add", "-q", "dataset/raw", cwd=project)
    sh("dvc", "repro", "--quiet", cwd=project)  # door: training
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", f"with {NAME}", cwd=project)
    sh("dvc", "push", "--quiet", cwd=project)
    process, url = _serve(project)
    try:
        status, _ = _upload(url, f"/people/{NAME}/photos", theirs[9].read_bytes())  # door: the enrol API
        assert status == 201
        ids = []
        for photo in theirs[10:16]:  # door: predict through the service
            status, answer = _upload(url, "/predict", photo.read_bytes())
            assert status == 200
            ids += [face["id"] for face in answer["faces"] if face["name"] == NAME]
        assert len(ids) >= 4, "the trained model names them"
        for face_id, verdict in zip(ids, ("person", "not", "person", "not")):  # door: feedback
            assert (
                _post(url, "/feedback", json.dumps({"id": face_id, verdict: NAME}).encode(), "application/json")[0]
                == 201
            )
        assert "4 waiting" in sh("faceops", "feedback", "list", cwd=project).stdout
        verdicts = sorted(path.stem for path in (project / ".faceops/feedback").glob("*.json"))
        sh("faceops", "feedback", "accept", verdicts[0], verdicts[1], cwd=project)  # door: accept
        sh("faceops", "feedback", "reject", verdicts[2], cwd=project)  # and reject; one stays waiting
        sh("dvc", "add", "-q", "dataset/raw", cwd=project)
        sh("faceops", "retrain", "--threshold", "0", cwd=project, check=False)  # door: retrain (already passing)
        sh("faceops", "report", cwd=project)  # door: the report
        assert NAME in (project / "reports/report.html").read_text()
        needles = _needles(project)

        # From the moment the journal exists (forget stopped right after writing it, by a hook for tests only,
        # then killed), the service neither names them nor lists them, nor takes a photo of theirs.
        env = tool_env() | {"FACEOPS_FORGET_PAUSE_AFTER": "journal"}
        forget = ["faceops", "forget", "--person", NAME, "--yes"]
        killed = subprocess.Popen(forget, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
        assert any(line.startswith("paused after journal") for line in killed.stderr)
        status, answer = _upload(url, "/predict", theirs[11].read_bytes())
        assert status == 200 and answer["faces"] and NAME not in json.dumps(answer)
        with urllib.request.urlopen(url + "/model", timeout=30) as response:
            assert NAME not in response.read().decode()
        status, answer = _upload(url, f"/people/{NAME}/photos", theirs[12].read_bytes())
        assert status == 409 and "is being forgotten" in answer["detail"]
        killed.kill()
        killed.wait(timeout=30)

        result = sh(*forget, cwd=project, check=False)
        receipts = "".join(path.read_text() for path in (project / "receipts").glob("*.txt"))
        assert result.returncode == 0, result.stdout + result.stderr + receipts
        assert "verified by a second search: nothing of them is left" in result.stdout

        # The service no longer names or lists them, and nothing of theirs is left outside the inventory.
        status, answer = _upload(url, "/predict", theirs[11].read_bytes())
        assert status == 200 and NAME not in json.dumps(answer)
        with urllib.request.urlopen(url + "/model", timeout=30) as response:
            assert NAME not in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert NAME not in sh("faceops", "people", cwd=project).stdout
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        site = Path(repo.site_cache_dir)
    roots = {"project": project, "records": project, "dvc-site": site, "remote": tmp_path / "remote"}
    committed = sh("git", "ls-files", cwd=project).stdout.splitlines()  # this test's own copy names them
    hits, count = scan(roots, needles, places_for(NAME, committed))
    assert count > 100
    outside = [f"{hit.root} {hit.path}: {hit.why}" for hit in hits if hit.place is None]
    assert outside == [], "person data outside the inventory: a new place must join faceops/people/inventory.py"
    uncleaned = [f"{hit.path}: {hit.why}" for hit in hits if hit.place and hit.place.handling == CLEANED]
    assert uncleaned == []
    # What is left is what the receipt says it cannot or need not rewrite.
    [receipt] = (project / "receipts").glob(f"forget-{NAME}-*.json")
    body = json.loads(receipt.read_text())
    assert body["verified"] and any("git history" in reason for reason in body["remaining"])
    assert {hit.place.name for hit in hits} <= {"receipts", "git history", "committed files"}
    assert [hit.path for hit in hits if hit.place.name == "committed files"] == ["tests/test_inventory.py"]
