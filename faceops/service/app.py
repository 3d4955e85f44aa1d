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

from faceops.core.errors import FaceopsError, ImageError
from faceops.core.names import person_name, refuse_second_spelling
from faceops.core.parallel import process_pool, worker_count
from faceops.data.images import is_image_name
from faceops.data.negatives import CROP_MARGIN
from faceops.model.card import ModelCard, card_path
from faceops.people.forgotten import forgotten, hide, refuse_forgotten, unfinished
from faceops.records.drift import UNKNOWN
from faceops.records.feedback import (
    FaceRecord,
    FeedbackStore,
    PendingStore,
    RecordStoreError,
    UnknownFaceError,
    crop_jpeg,
    new_id,
    verdict_of,
)
from faceops.records.keeping import RecordKeeper, check_usable
from faceops.records.store import RecordStore, open_store
from faceops.service.access import (
    KEYS_VARIABLE,
    LOCAL_HOSTS,
    AccessGuard,
    ApiKey,
    default_allowed_hosts,
    document_keys,
    is_loopback,
    keys_from_environment,
)

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the photo
STATUS_FOR = {"faces": 422, "empty": 400, "corrupt": 400, "unreadable": 400, "not_image": 415, "too_large": 413}
KEPT_COPIES = 3  # live model copies kept: requests already queued may still name the previous ones


@dataclass(frozen=True)
class Limits:
    """What one client may hold: the upload size, how long its headers and body may take, and how many
    connections the service keeps open at once (beyond that, requests get 503)."""

    max_upload_bytes: int = MAX_UPLOAD_BYTES
    header_timeout: float = 10.0  # seconds from a connection's first byte (or its last answer) to its full headers
    body_timeout: float = 15.0  # seconds a request body may stall between two chunks
    body_deadline: float = 120.0  # seconds for a whole request body
    max_connections: int = 100


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
        from faceops.model.recogniser import Recogniser, check_model_file

        self._count += 1
        folder = self.copies / str(self._count)
        folder.mkdir()
        try:
            for source in (self.model_path, card_path(self.model_path)):
                check_model_file(source)  # a regular file under a size cap: never copy a device until the disk is full
                shutil.copy2(source, folder / source.name)
            if self._disk_stamp() != self._stamp:
                raise FaceopsError(f"{self.model_path}: changed while it was read; trying again on the next request")
            try:
                recogniser = Recogniser.load(folder / self.model_path.name)
            except FaceopsError as exc:  # name the files on disk, not our private copy
                raise FaceopsError(str(exc).replace(str(folder), str(self.model_path.parent))) from None
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
        from faceops.model.predict import FacePredictor
        from faceops.model.recogniser import Recogniser

        _predictors.clear()
        _predictors[model_path] = FacePredictor(Recogniser.load(model_path))
    return _predictors[model_path]


def predict_upload(model_path: Path, data: bytes, name: str, version: str) -> dict:
    """Decode a photo and name its faces, each with an id; an unusable photo comes back as {'error': kind,
    'reason': ...}. `records` (closest person included) and their JPEG `crops` are for the pending store and
    the drift log, which the web process writes, not for the client."""
    from faceops.data.capture import face_region
    from faceops.data.images import decode_image

    try:
        rgb = decode_image(data, name)
    except ImageError as exc:
        return {"error": exc.kind, "reason": exc.reason}
    faces = _predictor(model_path).predict(rgb)
    answers, records, crops = [], [], []
    for face in faces:
        record = FaceRecord(new_id(), time.time(), face.name, face.label, round(face.distance, 4), version)
        crops.append(crop_jpeg(face_region(rgb, face.box, CROP_MARGIN)))
        answers.append({"id": record.id, **face.to_dict()})
        records.append(record)
    size = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
    return {**size, "faces": answers, "records": records, "crops": crops}


def enrol_upload(model_path: Path, folder: Path, person: str, data: bytes, name: str) -> dict:
    """Keep a photo of `person` for the next retrain if it shows exactly one face; where it went, or why not."""
    from faceops.data.capture import save_photo
    from faceops.data.images import decode_image

    try:
        rgb = decode_image(data, name)
    except ImageError as exc:
        return {"error": exc.kind, "reason": exc.reason}
    faces = len(_predictor(model_path).detector.detect(rgb))
    if faces != 1:
        found = "no face" if faces == 0 else f"{faces} faces"
        return {"error": "faces", "reason": f"{found} found; send a photo of {person} alone; nothing was saved"}
    return {"saved": str(save_photo(folder / person, person, rgb))}


def warm_up(model_path: Path, linger: float) -> int:
    """Load the model and the backbone in this worker; linger so the next warm-up goes to another worker."""
    import numpy as np

    from faceops.data.detect import Box

    predictor = _predictor(model_path)
    size = 160
    blank = np.zeros((size, size, 3), dtype="uint8")
    predictor.recogniser.identify_in_photo(blank, [Box(40, 40, 80, 80)])  # loads the backbone
    predictor.predict(blank)  # and the detector
    time.sleep(linger)
    return os.getpid()


# --- the web process --------------------------------------------------------------------------------


class HeadAsGet:
    """HTTP says a GET route answers HEAD too (same status and headers, no body); FastAPI routes only GET.

    The request goes on as GET; uvicorn sends no body for a HEAD request on its own.
    """

    def __init__(self, app) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


def create_app(
    model_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str] | None = None,
    limits: Limits = Limits(),
    workers: int | None = None,
    allowed_hosts: list[str] | None = None,
    keys: list[ApiKey] | None = None,
    raw_dir: str | os.PathLike[str] = "dataset/raw",
    records: RecordStore | None = None,
):  # noqa: ANN201 - FastAPI
    """The service: the page, /health, /model, /predict, /feedback, /reload, enrolment and offline /docs, behind
    the Host and key check. Enrolled photos go to `raw_dir`, one folder per person, as `faceops capture` writes
    them; waiting crops, feedback and the recognition log go to `records` (default: this folder)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi_offline import FastAPIOffline
    from starlette.concurrency import run_in_threadpool

    raw = Path(raw_dir)
    records = records or open_store(".")
    pending, feedback_store = PendingStore(records), FeedbackStore(records)
    keeper = RecordKeeper(pending, records)  # a failing store costs the feedback ids, never the answer
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
            keeper.close()
            records.close()  # a bucket store writes the log lines it still buffers

    app = FastAPIOffline(  # /docs from Swagger UI files inside the package: it works offline
        title="faceops",
        description="Who is this? Upload a photo; get the faces, names and confidences.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts or list(LOCAL_HOSTS), keys=keys or [])
    if keys:
        document_keys(app)
    app.add_middleware(HeadAsGet)
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
        return {**holder.health(), **keeper.health()}

    @app.get("/model")
    async def model() -> dict:
        await live()
        info, hidden = holder.info(), unfinished() | set(holder.live.card.forgotten)
        return {**info, "labels": [label for label in info["labels"] if label not in hidden]}

    @app.post("/reload")
    async def reload() -> dict:
        await run_in_threadpool(holder.refresh, True)
        return holder.health()

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        data, name = await _read_upload(request, limits)
        current = await live()
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(pool, predict_upload, current.path, data, name, current.version)
        if "error" in answer:
            raise HTTPException(STATUS_FOR.get(answer["error"], 400), answer["reason"])
        hidden = unfinished() | set(current.card.forgotten)  # a forget under way: never named from its start
        answer["faces"], faces = hide(answer["faces"], answer.pop("records"), hidden)
        lines = [
            {"time": r.time, "name": r.name, "label": r.label, "distance": r.distance, "model": r.model_version}
            for r in faces
            if r.label != UNKNOWN  # a forgotten person's faces are not logged
        ]
        problem = await keeper.keep(list(zip(answer.pop("crops"), faces)), lines)
        if problem is not None:  # answered all the same: no feedback ids, and why
            answer["faces"] = [{k: v for k, v in face.items() if k != "id"} for face in answer["faces"]]
            answer["feedback_unavailable"] = problem
        return {**answer, "model_version": current.version}

    @app.post("/feedback", status_code=201)
    async def feedback(request: Request) -> dict:
        """Say who a face from /predict is ("person") or is not ("not") (admin); kept for `faceops feedback`."""
        try:
            body = json.loads(await _read_body(request, 4096, limits))
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
            body = None
        current = await live()
        people = set(current.card.labels) - set(current.card.forgotten)
        people |= {path.name for path in raw.iterdir() if path.is_dir()} if raw.is_dir() else set()
        people -= forgotten(".", raw)
        try:
            face_id, verdict, person = verdict_of(body, people)
            await keeper.bounded(pending.move_to_feedback, face_id, verdict, person, feedback_store)
        except RecordStoreError as exc:  # written before removed: the face still waits; 507 full, 503 otherwise
            raise HTTPException(exc.status, str(exc)) from None
        except FaceopsError as exc:
            raise HTTPException(404 if isinstance(exc, UnknownFaceError) else 400, str(exc)) from None
        return {"id": face_id, "verdict": verdict, "person": person, "waiting": len(feedback_store.entries())}

    @app.post("/people/{person}/photos", status_code=201)
    async def enrol(person: str, request: Request, re_enrol: bool = False) -> dict:
        """Add a photo of `person` to dataset/raw (admin): the next `dvc add dataset/raw` and retrain include it."""
        current = await live()
        try:
            person = person_name(person, "person")
            folders = [p.name for p in raw.iterdir() if p.is_dir()] if raw.is_dir() else []
            refuse_second_spelling(person, [*current.card.labels, *folders], "person")
        except FaceopsError as exc:
            raise HTTPException(400, str(exc)) from None
        try:
            refuse_forgotten(person, ".", raw, "?re_enrol=true", re_enrol)
        except FaceopsError as exc:
            raise HTTPException(409, str(exc)) from None
        data, name = await _read_upload(request, limits)
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(pool, enrol_upload, current.path, raw, person, data, name)
        if "error" in answer:
            raise HTTPException(STATUS_FOR.get(answer["error"], 422), answer["reason"])
        photos = sorted(path for path in (raw / person).iterdir() if is_image_name(path))
        everyone = sum(1 for path in raw.glob("*/*") if is_image_name(path))
        known = person in current.card.labels
        return {
            "person": person,
            "saved": answer["saved"],
            "photos_of_person": len(photos),
            "photos_in_data_set": everyone,
            "known_to_live_model": known,
            "next_retrain": (
                f"{len(photos)} photos of {person} ({'known to the live model' if known else 'a new person'}) "
                f"among {everyone} photos in {raw}, once `dvc add {raw}` and a commit record them "
                "(or faceops enrol --push from the machine that holds the data)"
            ),
        }

    return app


async def _read_upload(request, limits: Limits) -> tuple:  # noqa: ANN001 - starlette Request
    """The photo's bytes and name from a multipart form or a raw body, never reading past the cap.

    The body is read into memory up to the cap (plus room for multipart headers) and only then
    parsed, so an oversized upload is refused with 413 before it has all arrived, and nothing of it
    is spooled to disk.
    """
    from fastapi import HTTPException
    from starlette.requests import Request

    limit = limits.max_upload_bytes
    too_large = HTTPException(413, f"upload is larger than {limit // (1024 * 1024)} MiB")
    content_type = request.headers.get("content-type", "")
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + (MULTIPART_OVERHEAD if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    body = await _read_body(request, cap, limits)
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


async def _read_body(request, cap: int, limits: Limits) -> bytes:  # noqa: ANN001 - starlette Request
    """The raw body, read no further than one byte past `cap` (so a huge upload is not held in memory);
    408 when it stalls for `body_timeout` seconds or takes longer than `body_deadline` in all."""
    from fastapi import HTTPException

    chunks, size = [], 0
    deadline = time.monotonic() + limits.body_deadline
    stream = request.stream()
    while size <= cap:
        wait = min(limits.body_timeout, deadline - time.monotonic())
        try:
            chunk = await asyncio.wait_for(anext(stream), timeout=max(wait, 0.001))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise HTTPException(408, f"the upload was too slow (no more than {wait:.0f} s allowed)") from None
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def guarded_protocol(header_timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers take longer than `header_timeout`
    seconds (uvicorn has no such limit: a client sending a header byte a second would hold a connection
    forever). The clock starts at the connection and again after each answer."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _header_timer = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                log.warning("closed a connection whose request headers took over %.0f s", header_timeout)
                self.transport.close()

        def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio transport
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def serve(
    model_path: str,
    host: str,
    port: int,
    metrics_path: str | None,
    workers: int | None = None,
    allowed_hosts: list[str] | None = None,
    insecure: bool = False,
    limits: Limits = Limits(),
    raw_dir: str = "dataset/raw",
    records: str | None = None,
) -> None:
    """Run the service. Without API keys it binds only to loopback, unless `insecure`. `records`: where crops,
    feedback and the recognition log go (a folder or remote://NAME/PATH; default FACEOPS_RECORDS, else here)."""
    import uvicorn

    keys = keys_from_environment()
    if not keys and not is_loopback(host) and not insecure:
        raise FaceopsError(
            f"--host {host} would let anyone who can reach this machine use the service without a key; "
            f"set {KEYS_VARIABLE} (see README: Exposing the service) or pass --insecure"
        )
    if not keys and not is_loopback(host):
        log.warning("serving on %s without API keys (--insecure): anyone who can reach it may use it", host)
    hosts = allowed_hosts or default_allowed_hosts(host)
    store = open_store(records)
    check_usable(store)
    log.info("records (waiting crops, feedback, recognition log): %s", store.where)
    log.info("API keys: %d (%s); allowed Host names: %s", len(keys), "required" if keys else "off", ", ".join(hosts))
    app = create_app(
        model_path,
        metrics_path,
        limits=limits,
        workers=workers,
        allowed_hosts=hosts,
        keys=keys,
        raw_dir=raw_dir,
        records=store,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http=guarded_protocol(limits.header_timeout),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
