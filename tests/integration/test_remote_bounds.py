"""Faults degrade, never corrupt: a bucket or DVC remote that refuses connections, or accepts and never answers,
is a one-line error within FACEOPS_REMOTE_SECONDS (record store, `faceops forget`), never a hang."""

from __future__ import annotations

import time

import pytest
from helpers import ACCESS_KEY, SECRET_KEY, free_port, sh
from support.remote_bounds import BOUND

from faceops.core import dvc
from faceops.records.store import BucketStore

SLACK = 4  # thread start, interpreter, a loaded CI machine


@pytest.fixture
def stopped():
    """A real S3-protocol server (moto) that held a bucket and was stopped: connections are refused."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket="faces")
    server.stop()
    return endpoint


def _bucket(endpoint: str) -> BucketStore:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True
    )
    return BucketStore(fs, "faces/records", "remote://store/records", flush_seconds=0)


@pytest.mark.parametrize("server", ["stopped", "silent"])
def test_a_bucket_that_is_down_or_silent_fails_within_the_bound(request, monkeypatch, server):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, str(BOUND))
    store = _bucket(request.getfixturevalue(server))
    for call in (lambda: store.put("pending/a.json", b"{}"), lambda: store.entries("pending/")):
        started = time.monotonic()
        with pytest.raises(dvc.RemoteError) as caught:
            call()
        assert time.monotonic() - started < BOUND + SLACK
        message = str(caught.value)
        assert "\n" not in message and message.startswith("the record store remote://store/records (s3://")
        assert "did not answer within 3 s (FACEOPS_REMOTE_SECONDS)" in message or "cannot be reached" in message


def _enrol_app(project):
    """The enrol route over a stand-in service (no model, no worker processes): what it writes is one file."""
    from types import SimpleNamespace

    from fastapi import FastAPI

    from faceops.service.routes.people import router
    from faceops.service.transport import Limits

    async def current():
        return SimpleNamespace(card=SimpleNamespace(labels=[]))

    async def enrol(model, raw, person, data, name):
        (raw / person).mkdir(parents=True, exist_ok=True)
        (raw / person / "photo.jpg").write_bytes(data)
        return {"saved": str(raw / person / "photo.jpg")}

    service = SimpleNamespace(
        holder=SimpleNamespace(current=current),
        workers=SimpleNamespace(enrol=enrol),
        raw=project / "dataset/raw",
        limits=Limits(),
    )
    app = FastAPI()
    app.include_router(router(service))
    return app


def _post(app, path: str, body: bytes) -> tuple[int, dict]:
    """One request straight into the ASGI app."""
    import asyncio
    import json

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"localhost"), (b"content-type", b"image/jpeg"),
                         (b"content-length", str(len(body)).encode())],
             "root_path": "", "scheme": "http", "http_version": "1.1", "server": ("localhost", 80),
             "client": ("127.0.0.1", 1)}  # fmt: skip
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])
    answer: dict = {"body": b""}

    async def receive() -> dict:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"])


def test_enrolment_answers_409_naming_the_holder_while_another_writer_holds_the_lock(tmp_path, monkeypatch, lfw_photo):
    from support.lock import _hold

    project = tmp_path / "project"
    (project / "dataset/raw").mkdir(parents=True)
    monkeypatch.chdir(project)
    app = _enrol_app(project)
    holder = _hold(project, command="faceops import-folder")
    try:
        started = time.monotonic()
        status, answer = _post(app, "/people/Grace_Newcomer/photos", lfw_photo.read_bytes())
        assert time.monotonic() - started < 5  # never waits
        assert status == 409, answer
        assert f"`faceops import-folder` (PID {holder.pid}, since " in answer["detail"]
        assert not (project / "dataset/raw/Grace_Newcomer").exists()
    finally:
        holder.kill()
        holder.wait()
    status, answer = _post(app, "/people/Grace_Newcomer/photos", lfw_photo.read_bytes())
    assert status == 201, answer
    assert (project / "dataset/raw/Grace_Newcomer/photo.jpg").read_bytes() == lfw_photo.read_bytes()
    assert (project / ".faceops/lock").read_text() == ""  # released


def test_repro_is_one_writer_and_passes_its_arguments_to_dvc(tmp_path):
    from helpers import new_project
    from support.lock import _hold

    project = new_project(tmp_path / "repo")
    holder = _hold(project, command="faceops forget --person X")
    try:
        busy = sh("faceops", "repro", "--no-wait", "--force", cwd=project, check=False)
        assert busy.returncode == 2
        assert f"the project is busy: `faceops forget --person X` (PID {holder.pid}, since " in busy.stderr
    finally:
        holder.kill()
        holder.wait()
    # Not busy: dvc repro runs with the words given, and its exit status is ours.
    result = sh("faceops", "repro", "no-such-stage", "--no-wait", cwd=project, check=False)
    assert result.returncode != 0 and "no-such-stage" in result.stdout + result.stderr
    assert "busy" not in result.stderr and (project / ".faceops/lock").read_text() == ""


def test_doctor_reports_a_remote_that_hangs_within_the_bound(tmp_path, silent):
    from helpers import new_project
    from support.remote_bounds import hanging_remote

    from faceops.ops.doctor import FAIL, check_remote

    project = new_project(tmp_path / "repo")
    env = hanging_remote(project, silent)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", dvc.REMOTE_SECONDS_VARIABLE):
            patch.setenv(name, env[name])
        started = time.monotonic()
        check = check_remote(project, required=True)
        assert time.monotonic() - started < BOUND + SLACK
    assert check.status == FAIL and "did not answer within 3 s (FACEOPS_REMOTE_SECONDS)" in check.detail
    # What the user sees: the FAIL line naming the remote and the bound, and exit status 1.
    doctor = sh("faceops", "doctor", "--require-remote", cwd=project, check=False, env=env)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    [line] = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL  dvc remote")]
    assert line.endswith(
        "remote 'store' is not reachable: the DVC remote 'store' did not answer within 3 s (FACEOPS_REMOTE_SECONDS)"
    )


def test_enrol_push_to_a_remote_that_hangs_ends_with_one_line_and_leaves_nothing_running(tmp_path, lfw, silent):
    import shutil

    from helpers import make_project
    from support.remote_bounds import hanging_remote, running_in

    project = make_project(tmp_path / "repo", lfw, people=2, images=3)
    sh("git", "init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    sh("git", "remote", "add", "origin", str(tmp_path / "origin.git"), cwd=project)
    env = hanging_remote(project, silent)
    source = tmp_path / "photos"
    source.mkdir()
    for photo in sorted((lfw / "Gerhard_Schroeder").iterdir())[:3]:
        shutil.copy(photo, source / photo.name)
    started = time.monotonic()
    enrol = sh("faceops", "enrol", "--person", "Gerhard", "--source", str(source), "--push", cwd=project,
               check=False, env=env)  # fmt: skip
    took = time.monotonic() - started
    assert enrol.returncode == 1, enrol.stdout + enrol.stderr
    assert enrol.stderr.strip().splitlines()[-1] == (
        "error: `dvc push` to the DVC remote 'store' did not finish within 3 s (FACEOPS_TRANSFER_SECONDS); "
        "it was stopped"
    )
    assert took < 90  # the capture, two faceops imports and the bound; without it, DVC's own retries: many minutes
    assert running_in(project) == []  # dvc push and whatever it started are gone
    # The photos are committed here, nothing was pushed: `git push` never ran.
    assert "capture: " in sh("git", "log", "-1", "--format=%s", cwd=project).stdout
    assert sh("git", "branch", "--list", cwd=tmp_path / "origin.git").stdout == ""


def test_enrol_push_with_a_bad_transfer_bound_is_refused_before_any_photo_is_taken(tmp_path, monkeypatch, capsys, lfw):
    """Found trying new faults: the bound was read only at the push, after the photos were kept and committed."""
    from faceops.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(dvc.TRANSFER_SECONDS_VARIABLE, "15min")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes((lfw / "Colin_Powell" / "Colin_Powell_0012.jpg").read_bytes())
    code = main(["enrol", "--person", "Ann", "--source", "in", "--dest", "dataset/raw", "--push"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "error: FACEOPS_TRANSFER_SECONDS is '15min'; allowed: seconds, more than 0"
    )
    assert not (tmp_path / "dataset").exists()
