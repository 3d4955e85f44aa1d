"""Where person data lives (faceops.people.inventory) and forget as a journal: a person's whole life through every door,
then forget, then every file of the project, its record store, DVC's site cache and the DVC remote read for their
name and hashes; and a real `faceops forget` killed half-way, then finished by running it again."""

import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from helpers import make_project, sh, tool_env
from support.inventory import NAME, SOURCE, _their_photos
from support.serve import start_server

from faceops.people.inventory import CLEANED, Hit, Needles, places_for, scan


def _digests(path: Path) -> set[str]:
    data = path.read_bytes()
    return {hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()}


# -- the inventory's scan on its own -------------------------------------------------------------------


# -- forget is a journal --------------------------------------------------------------------------------


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


def _needles(project: Path) -> Needles:
    """Their name and the hashes of every file of theirs: photos, crops, waiting and reviewed crops."""
    files = [*(project / "dataset/raw" / NAME).iterdir(), *(project / "data/faces" / NAME).iterdir()]
    for folder in (".faceops/pending", ".faceops/feedback"):
        for record in (project / folder).glob("*.json"):
            if NAME in record.read_text():
                files.append(record.with_suffix(".jpg"))
    hashes = set().union(*(_digests(path) for path in files if path.exists()))
    return Needles(NAME, frozenset(hashes), frozenset(h for h in hashes if len(h) == 64))


def _through_every_door(project: Path, url: str, theirs: list[Path]) -> None:
    """Their data through each door after training: enrol API, predict, feedback, accept/reject, retrain, report."""
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
            _post(url, "/feedback", json.dumps({"id": face_id, verdict: NAME}).encode(), "application/json")[0] == 201
        )
    assert "4 waiting" in sh("faceops", "feedback", "list", cwd=project).stdout
    verdicts = sorted(path.stem for path in (project / ".faceops/feedback").glob("*.json"))
    sh("faceops", "feedback", "accept", verdicts[0], verdicts[1], cwd=project)  # door: accept
    sh("faceops", "feedback", "reject", verdicts[2], cwd=project)  # and reject; one stays waiting
    sh("dvc", "add", "-q", "dataset/raw", cwd=project)
    sh("faceops", "retrain", "--threshold", "0", cwd=project, check=False)  # door: retrain (already passing)
    sh("faceops", "report", cwd=project)  # door: the report
    assert NAME in (project / "reports/report.html").read_text()


def _scan_outside_the_inventory(project: Path, remote: Path, needles: Needles) -> list[Hit]:
    """Every file of the project, its record store, DVC's site cache and the remote that holds something of
    theirs, asserted to lie in a place of the inventory and not in one forget cleans."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        site = Path(repo.site_cache_dir)
    roots = {"project": project, "records": project, "dvc-site": site, "remote": remote}
    committed = sh("git", "ls-files", cwd=project).stdout.splitlines()  # this test's own copy names them
    hits, count = scan(roots, needles, places_for(NAME, committed))
    assert count > 100
    outside = [f"{hit.root} {hit.path}: {hit.why}" for hit in hits if hit.place is None]
    assert outside == [], "person data outside the inventory: a new place must join faceops/people/inventory.py"
    uncleaned = [f"{hit.path}: {hit.why}" for hit in hits if hit.place and hit.place.handling == CLEANED]
    assert uncleaned == []
    return hits


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
    process, url = start_server(project, log_dir=project.parent)  # its log outside the project scanned
    try:
        _through_every_door(project, url, theirs)
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
        kept = [json.loads(path.read_text()) for path in (project / ".faceops/pending").glob("*.json")]
        assert [r["id"] for r in kept if r["label"] == "unknown"] == [], "the crop of the photo sent while hidden"

        # The receipt's promise holds for what forget left: read before anyone sends the service anything new
        # (a photo of theirs sent after the forget is new data, kept as a stranger's crop with its own bytes).
        hits = _scan_outside_the_inventory(project, tmp_path / "remote", needles)

        # The service no longer names or lists them, and what it keeps of a photo of theirs does not name them.
        status, answer = _upload(url, "/predict", theirs[11].read_bytes())
        assert status == 200 and answer["faces"] and NAME not in json.dumps(answer)
        with urllib.request.urlopen(url + "/model", timeout=30) as response:
            assert NAME not in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert NAME not in sh("faceops", "people", cwd=project).stdout
    after = _scan_outside_the_inventory(project, tmp_path / "remote", Needles(NAME, frozenset(), frozenset()))
    assert {hit.path for hit in after} <= {hit.path for hit in hits}, "the service wrote their name after the forget"
    # What is left is what the receipt says it cannot or need not rewrite.
    [receipt] = (project / "receipts").glob(f"forget-{NAME}-*.json")
    body = json.loads(receipt.read_text())
    assert body["verified"] and any("git history" in reason for reason in body["remaining"])
    assert {hit.place.name for hit in hits} <= {"receipts", "git history", "committed files"}
    named_in = [hit.path for hit in hits if hit.place.name == "committed files"]
    assert named_in and all(path.startswith("tests/") for path in named_in)  # only this test's own code names them
