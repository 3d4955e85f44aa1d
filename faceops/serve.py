"""`faceops serve`: a small web service (FastAPI) and page that name the faces in a photo.

It shares the CLI's loading and prediction path (Recogniser, FacePredictor), checks uploads by
content and size, and answers bad input with a 4xx and a message.

Two kinds of process, so that no request waits behind another's face:
- the web process answers HTTP and does no image work; it watches models/model.keras and
  model.json, and when they change loads the new pair from a private copy. Only a pair that loads
  becomes live; one that does not leaves the last good model serving and /health `degraded`
  with the reason (a half-written or broken model never reaches a user).
- worker processes (one per core, `--workers`) decode photos and run detection and the backbone.
  Each request names the live copy, so every worker switches to a new model on its next request.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
import asyncio
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from faceops.card import ModelCard, card_path
from faceops.errors import FaceopsError, ImageError
from faceops.parallel import process_pool, worker_count

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the photo
STATUS_FOR = {"empty": 400, "corrupt": 400, "unreadable": 400, "not_image": 415, "too_large": 413}
KEPT_COPIES = 3  # live model copies kept: requests already queued may still name the previous ones


@dataclass(frozen=True)
class LiveModel:
    """A model that loaded: its private copy (what workers load) and its card."""

    path: Path
    card: ModelCard

    @property
    def version(self) -> str:
        return self.card.version


class ModelHolder:
    """The live model and the service's health; swaps in a new model only once it has loaded."""

    def __init__(self, model_path: str | os.PathLike[str], metrics_path: str | os.PathLike[str] | None = None) -> None:
        self.model_path = Path(model_path)
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.copies = Path(tempfile.mkdtemp(prefix="faceops-serve-"))
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self.live: LiveModel | None = None
        self.problem: str | None = None  # why the model on disk is not the live one
        self._count = 0

    def _disk_stamp(self) -> tuple:
        files = (self.model_path, card_path(self.model_path))
        return tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)

    def changed(self) -> bool:
        return self._disk_stamp() != self._stamp

    def refresh(self, force: bool = False) -> LiveModel:
        """Load the model on disk if it changed since the last look; the live model if it cannot be loaded."""
        with self._lock:
            stamp = self._disk_stamp()
            if force or stamp != self._stamp or self.live is None:
                self._stamp = stamp
                try:
                    self.live, self.problem = self._load_copy(), None
                    people = len(self.live.card.labels)
                    log.info("live: %s version %s, %d people", self.model_path, self.version, people)
                except FaceopsError as exc:
                    self.problem = str(exc)
                    if self.live is None:
                        raise
                    log.error("%s; still serving version %s", exc, self.version)
            return self.live

    def _load_copy(self) -> LiveModel:
        """Copy the pair (so that a promotion under way cannot mix files), check that it loads, keep it."""
        from faceops.model import Recogniser

        self._count += 1
        folder = self.copies / str(self._count)
        folder.mkdir()
        try:
            for source in (self.model_path, card_path(self.model_path)):
                if not source.exists():
                    raise FaceopsError(f"{source}: not found (train a model with `dvc repro`)")
                shutil.copy2(source, folder / source.name)
            if self._disk_stamp() != self._stamp:
                raise FaceopsError(f"{self.model_path}: changed while it was read; trying again on the next request")
            recogniser = Recogniser.load(folder / self.model_path.name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        for old in sorted(self.copies.iterdir(), key=lambda p: int(p.name))[:-KEPT_COPIES]:
            shutil.rmtree(old, ignore_errors=True)
        return LiveModel(folder / self.model_path.name, recogniser.card)

    @property
    def version(self) -> str:
        return self.live.version if self.live else ""

    def health(self) -> dict:
        if self.problem is None:
            return {"status": "ok", "model_version": self.version}
        return {"status": "degraded", "model_version": self.version, "reason": self.problem}

    def info(self) -> dict:
        card = self.live.card
        metrics = None
        if self.metrics_path and self.metrics_path.exists():
            metrics = json.loads(self.metrics_path.read_text())
        return {
            "version": self.version,
            "labels": list(card.labels),
            "backbone": card.backbone,
            "weights": card.weights_description,
            "image_size": card.image_size,
            "unknown_threshold": card.open_set.threshold,
            "metrics": metrics,
            **({"status": "degraded", "reason": self.problem} if self.problem else {"status": "ok"}),
        }

    def close(self) -> None:
        shutil.rmtree(self.copies, ignore_errors=True)


# --- in the worker processes ------------------------------------------------------------------------

_predictors: dict = {}  # model copy -> FacePredictor, in each worker process (the latest only)


def _predictor(model_path: Path):  # noqa: ANN202 - FacePredictor, imported in the worker only
    if model_path not in _predictors:
        from faceops.model import Recogniser
        from faceops.predict import FacePredictor

        _predictors.clear()
        _predictors[model_path] = FacePredictor(Recogniser.load(model_path))
    return _predictors[model_path]


def predict_upload(model_path: Path, data: bytes, name: str) -> dict:
    """Decode a photo and name its faces; an unusable photo comes back as {'error': kind, 'reason': ...}."""
    from faceops.images import decode_image

    try:
        rgb = decode_image(data, name)
    except ImageError as exc:
        return {"error": exc.kind, "reason": exc.reason}
    faces = _predictor(model_path).predict(rgb)
    return {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "faces": [face.to_dict() for face in faces]}


def warm_up(model_path: Path, linger: float) -> int:
    """Load the model and the backbone in this worker; linger so the next warm-up goes to another worker."""
    import numpy as np

    predictor = _predictor(model_path)
    size = predictor.recogniser.image_size
    predictor.recogniser.identify_faces(np.zeros((1, size, size, 3), dtype="uint8"))
    predictor.predict(np.zeros((size, size, 3), dtype="uint8"))
    time.sleep(linger)
    return os.getpid()


# --- the web process --------------------------------------------------------------------------------


def create_app(
    model_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str] | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    workers: int | None = None,
):  # noqa: ANN201 - FastAPI
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    holder = ModelHolder(model_path, metrics_path)
    try:
        holder.refresh()  # fail at start, with a clear message, if there is no model that loads
    except BaseException:
        holder.close()
        raise
    n_workers = workers or worker_count()
    pool = process_pool(n_workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        warmed = [loop.run_in_executor(pool, warm_up, holder.live.path, 0.3) for _ in range(n_workers)]
        pids = await asyncio.gather(*warmed)
        log.info("%d worker process(es) ready in %.1f s", len(set(pids)), time.perf_counter() - started)
        try:
            yield
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            holder.close()

    app = FastAPI(
        title="faceops",
        description="Who is this? Upload a photo; get the faces, names and confidences.",
        lifespan=lifespan,
    )
    page = resources.files("faceops").joinpath("web/index.html").read_text()

    async def live() -> LiveModel:
        """The live model, after loading a new one from disk in a thread if it changed (never on the event loop)."""
        if holder.changed():
            return await run_in_threadpool(holder.refresh)
        return holder.live

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "send the photo as multipart form field 'file'"}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.get("/health")
    async def health() -> dict:
        await live()
        return holder.health()

    @app.get("/model")
    async def model() -> dict:
        await live()
        return holder.info()

    @app.post("/reload")
    async def reload() -> dict:
        await run_in_threadpool(holder.refresh, True)
        return holder.health()

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        data, name = await _read_upload(request, max_upload_bytes)
        current = await live()
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(pool, predict_upload, current.path, data, name)
        if "error" in answer:
            raise HTTPException(STATUS_FOR.get(answer["error"], 400), answer["reason"])
        return {**answer, "model_version": current.version}

    return app


async def _read_upload(request, limit: int) -> tuple:  # noqa: ANN001 - starlette Request
    """The photo's bytes and name from a multipart form or a raw body, never reading past the cap.

    The body is read into memory up to `limit` (plus room for multipart headers) and only then
    parsed, so an oversized upload is refused with 413 before it has all arrived, and nothing of it
    is spooled to disk.
    """
    from fastapi import HTTPException
    from starlette.requests import Request

    too_large = HTTPException(413, f"upload is larger than {limit // (1024 * 1024)} MiB")
    content_type = request.headers.get("content-type", "")
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + (MULTIPART_OVERHEAD if multipart else 0)
    body = await _read_body(request, cap)
    if len(body) > cap:
        raise too_large
    if not multipart:
        if len(body) > limit:
            raise too_large
        return body, "body"

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=5, max_part_size=limit + 1)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "send the photo as multipart form field 'file'")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data, upload.filename or "upload"


async def _read_body(request, limit: int) -> bytes:  # noqa: ANN001 - starlette Request
    """The raw body, read no further than one byte past `limit` (so a huge upload is not held in memory)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def serve(model_path: str, host: str, port: int, metrics_path: str | None, workers: int | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(model_path, metrics_path, workers=workers), host=host, port=port, log_level="info")
