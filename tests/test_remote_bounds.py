"""Faults degrade, never corrupt: a bucket or DVC remote that refuses connections, or accepts and never answers,
is a one-line error within FACEOPS_REMOTE_SECONDS (record store, `faceops forget`), never a hang."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
from helpers import ACCESS_KEY, SECRET_KEY, free_port, make_project, sh, tool_env

from faceops.core import dvc
from faceops.core.errors import FaceopsError
from faceops.records.store import BucketStore

BOUND = 3  # seconds, FACEOPS_REMOTE_SECONDS in these tests
SLACK = 4  # thread start, interpreter, a loaded CI machine


@pytest.fixture
def silent():
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; its endpoint URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


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


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf"])
def test_a_bad_bound_is_one_line_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, value)
    with pytest.raises(FaceopsError, match=rf"^FACEOPS_REMOTE_SECONDS is '{value}'; allowed: seconds, more than 0$"):
        dvc.remote_seconds()


def test_the_bound_defaults_to_thirty_seconds(monkeypatch):
    monkeypatch.delenv(dvc.REMOTE_SECONDS_VARIABLE, raising=False)
    assert dvc.remote_seconds() == dvc.REMOTE_SECONDS_DEFAULT == 30


def test_a_call_that_cannot_connect_is_tried_again_then_given_up(monkeypatch):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "10")
    tries = []

    def refused() -> None:
        tries.append(time.monotonic())
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(dvc.RemoteError, match=r"^the bucket cannot be reached after 3 tries: .*Connection refused"):
        dvc.bounded("the bucket", refused)
    assert len(tries) == 3 and tries[-1] - tries[0] >= 1.4  # backoff 0.5 s, 1 s


def test_other_errors_are_the_calls_own(monkeypatch):
    monkeypatch.setenv(dvc.REMOTE_SECONDS_VARIABLE, "10")
    with pytest.raises(FileNotFoundError):
        dvc.bounded("the bucket", open, "/no/such/file")


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


def _journal(project) -> list:
    return sorted(p.name for p in (project / ".faceops/forget").glob("*.json"))


@pytest.mark.slow
def test_forget_against_a_remote_that_hangs_stops_with_one_line_and_a_rerun_finishes(tmp_path, lfw, s3, silent):
    project = make_project(tmp_path / "repo", lfw, people=3, images=3)
    person = sorted(path.name for path in (project / "dataset/raw").iterdir())[0]
    sh("dvc", "remote", "add", "--local", "--default", "store", "s3://faces/forget-bounds", cwd=project)
    env = tool_env() | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    env |= {dvc.REMOTE_SECONDS_VARIABLE: str(BOUND)}

    def endpoint(url: str) -> None:
        sh("dvc", "remote", "modify", "--local", "store", "endpointurl", url, cwd=project)

    endpoint(s3)
    sh("dvc", "push", "-q", cwd=project, env=env)
    forget = ("faceops", "forget", "--person", person, "--yes", "--no-retrain")

    endpoint(silent)  # from the start: nothing changes, within the bound
    started = time.monotonic()
    first = sh(*forget, cwd=project, check=False, env=env)
    assert time.monotonic() - started < 60  # a faceops process with DVC and TensorFlow imports, and the bound
    [line] = first.stderr.strip().splitlines()
    assert first.returncode == 1 and "the DVC remote 'store' is not reachable" in line and "nothing was changed" in line
    assert "did not answer within 3 s" in line and _journal(project) == []

    endpoint(s3)  # journaled: stopped after the caches, before the remote's objects
    pause = env | {"FACEOPS_FORGET_PAUSE_AFTER": "crop and feature caches"}
    process = subprocess.Popen([*forget], cwd=project, env=pause, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if line.startswith("paused after"):
            break
    process.kill()
    process.wait(timeout=30)
    assert _journal(project) == [f"{person}.json"]

    endpoint(silent)  # the remote now hangs: one line, the journal stays
    second = sh(*forget, cwd=project, check=False, env=env)
    *notes, line = second.stderr.strip().splitlines()
    assert [note.split(" (PID")[0] for note in notes] == [
        "note: took over the project lock left by `faceops forget`"
    ], second.stderr
    assert second.returncode == 1 and "did not answer within 3 s (FACEOPS_REMOTE_SECONDS)" in line
    assert "the forget is journaled" in line and _journal(project) == [f"{person}.json"]

    endpoint(s3)  # it answers again: the rerun finishes the job
    third = sh(*forget, cwd=project, check=False, env=env)
    assert third.returncode == 0, third.stderr
    assert _journal(project) == [] and list((project / "receipts").glob(f"forget-{person}-*.json"))


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
    from test_lock import _hold

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
    from test_lock import _hold

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
