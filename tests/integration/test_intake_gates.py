"""The intake gates at every way into dataset/raw: `faceops enrol`, POST /people/NAME/photos and `faceops feedback
accept` refuse a blurred face, two faces and a repeat of a saved photo, one line each, and keep nothing of it; a
refused feedback crop still waits. Real LFW faces; the service's route runs in-process (no model, no server)."""

import asyncio
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageFilter

from faceops.cli.main import main
from faceops.data.detect import FaceDetector
from faceops.data.negatives import CROP_MARGIN
from faceops.data.photos import face_region
from faceops.records.feedback import FaceRecord, FeedbackStore, crop_jpeg, new_id
from faceops.records.store import FolderStore


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def photos(lfw) -> dict[str, bytes]:
    """A sharp face, the same face blurred, and two people side by side, as JPEG bytes."""
    sharp = Image.open(lfw / "Colin_Powell" / "Colin_Powell_0012.jpg").convert("RGB")
    pair = Image.new("RGB", (500, 250))
    pair.paste(Image.open(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"), (0, 0))
    pair.paste(Image.open(lfw / "Colin_Powell" / "Colin_Powell_0010.jpg"), (250, 0))
    return {"good": _jpeg(sharp), "blurred": _jpeg(sharp.filter(ImageFilter.GaussianBlur(3))), "pair": _jpeg(pair)}


@pytest.mark.parametrize("kind, reason", [("blurred", "too blurry (sharpness "), ("pair", "several faces")])
def test_enrol_refuses_a_bad_photo_in_one_line_with_exit_2(tmp_path, monkeypatch, capsys, photos, kind, reason):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"{kind}.jpg").write_bytes(photos[kind])
    code = main(["enrol", "--person", "Ann", "--source", "in", "--dest", "dataset/raw"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith(f"error: {kind}.jpg: {reason}"), error
    assert "no photo of Ann was saved" in error
    assert not list(tmp_path.glob("dataset/raw/Ann/*.jpg"))


def _post(app, path: str, body: bytes) -> tuple[int, dict]:
    """One POST through the ASGI app, in-process (starlette's TestClient needs httpx, which is not installed)."""
    sent: list[dict] = []
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"localhost"), (b"content-length", str(len(body)).encode())],
             "root_path": "", "scheme": "http", "http_version": "1.1", "server": ("localhost", 80),
             "client": ("127.0.0.1", 1)}  # fmt: skip

    async def receive() -> dict:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


@pytest.fixture
def enrol_app(tmp_path, monkeypatch):
    """The service's enrolment route over tmp_path/dataset/raw, its worker's function called in the same process."""
    from fastapi import FastAPI

    from faceops.service import workers
    from faceops.service.routes import people
    from faceops.service.transport import Limits

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workers, "_predictor", lambda path: SimpleNamespace(detector=FaceDetector()))
    live = SimpleNamespace(card=SimpleNamespace(labels=["Tony_Blair"], forgotten=[]), path=tmp_path / "model.keras")

    async def current() -> SimpleNamespace:
        return live

    async def enrol(model, folder, person, data, name) -> dict:  # noqa: ANN001 - Workers.enrol's arguments
        return workers.enrol_upload(model.path, folder, person, data, name)

    service = SimpleNamespace(
        holder=SimpleNamespace(current=current),
        raw=Path("dataset/raw"),
        limits=Limits(),
        workers=SimpleNamespace(enrol=enrol),
    )
    app = FastAPI()
    app.include_router(people.router(service))
    return app


def test_the_enrol_route_refuses_blur_two_faces_and_a_repeat_with_400(enrol_app, tmp_path, photos):
    status, answer = _post(enrol_app, "/people/Colin/photos", photos["blurred"])
    assert status == 400 and answer["detail"].startswith("too blurry (sharpness "), answer
    status, answer = _post(enrol_app, "/people/Colin/photos", photos["pair"])
    assert status == 400 and answer == {"detail": "several faces; nothing was saved"}
    assert not list(tmp_path.glob("dataset/raw/Colin/*.jpg"))
    status, answer = _post(enrol_app, "/people/Colin/photos", photos["good"])
    assert status == 201 and answer["saved"] == "dataset/raw/Colin/Colin_0001.jpg", answer
    status, answer = _post(enrol_app, "/people/Colin/photos", photos["good"])
    assert status == 400 and answer["detail"].startswith("duplicate ("), answer
    assert [p.name for p in (tmp_path / "dataset/raw/Colin").glob("*.jpg")] == ["Colin_0001.jpg"]


def _crop(photo: Path, blur: float = 0) -> bytes:
    """The crop the service keeps of the face in `photo` (the face box grown by CROP_MARGIN), as JPEG."""
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    crop = face_region(rgb, FaceDetector().detect(rgb)[0], CROP_MARGIN)
    if blur:
        crop = np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(blur)))
    return crop_jpeg(crop)


def test_feedback_accept_refuses_a_blurred_crop_and_a_repeat_which_still_wait(tmp_path, monkeypatch, capsys, lfw):
    monkeypatch.chdir(tmp_path)
    theirs = sorted((lfw / "Tony_Blair").iterdir())
    folder = tmp_path / "dataset/raw/Tony_Blair"
    folder.mkdir(parents=True)
    (folder / "Tony_Blair_0001.jpg").write_bytes(theirs[0].read_bytes())  # a photo the person already has
    feedback = FeedbackStore(FolderStore(tmp_path))
    ids = {}
    for kind, crop in (("blurred", _crop(theirs[1], 3)), ("repeat", _crop(theirs[0])), ("good", _crop(theirs[2]))):
        ids[kind] = new_id()
        feedback.add(crop, FaceRecord(ids[kind], time.time(), "unknown", "Tony_Blair", 0.7, "v1", "is", "Tony_Blair"))

    code = main(["feedback", "accept", "--all"])
    out, err = capsys.readouterr()
    assert code == 2, err
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: feedback ") for line in errors), err
    assert f"error: feedback {ids['blurred']}: too blurry (sharpness " in err
    assert f"error: feedback {ids['repeat']}: duplicate (" in err and "it still waits" in err
    assert "1 photos added to dataset/raw" in out
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["Tony_Blair_0001.jpg", "Tony_Blair_0002.jpg"]
    assert {record.id for record in feedback.entries()} == {ids["blurred"], ids["repeat"]}  # refused: not lost
