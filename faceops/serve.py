"""`faceops serve`: a small web service (FastAPI) and page that name the faces in a photo.

It shares the CLI's loading and prediction path (Recogniser, FacePredictor), checks uploads by
content and size, answers bad input with a 4xx and a message, and reloads the model when a new one
is promoted (the model files change on disk), without a restart.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
import json
import logging
import os
import threading
from importlib import resources
from pathlib import Path

from faceops.errors import ImageError
from faceops.images import decode_image
from faceops.model import Recogniser
from faceops.predict import FacePredictor

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
STATUS_FOR = {"empty": 400, "corrupt": 400, "unreadable": 400, "not_image": 415, "too_large": 413}


class ModelHolder:
    """The loaded model, swapped for a new one when model.keras or model.json changes on disk."""

    def __init__(self, model_path: str | os.PathLike[str], metrics_path: str | os.PathLike[str] | None = None) -> None:
        self.model_path = Path(model_path)
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._predictor: FacePredictor | None = None
        self.version = ""

    def _disk_stamp(self) -> tuple:
        files = (self.model_path, self.model_path.with_suffix(".json"))
        return tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)

    def get(self) -> FacePredictor:
        with self._lock:
            stamp = self._disk_stamp()
            if self._predictor is None or stamp != self._stamp:
                recogniser = Recogniser.load(self.model_path)
                self._predictor, self._stamp = FacePredictor(recogniser), stamp
                self.version = recogniser.card.version
                log.info("loaded %s (version %s, %d people)", self.model_path, self.version, len(recogniser.labels))
            return self._predictor

    def predict(self, rgb):  # noqa: ANN001, ANN201 - numpy in, faces out
        predictor = self.get()
        with self._lock:  # one prediction at a time: Keras models are not safe to call from many threads
            return predictor.predict(rgb)

    def info(self) -> dict:
        predictor = self.get()
        card = predictor.recogniser.card
        metrics = None
        if self.metrics_path and self.metrics_path.exists():
            metrics = json.loads(self.metrics_path.read_text())
        return {
            "version": self.version,
            "labels": predictor.recogniser.labels,
            "backbone": card.backbone,
            "weights": card.weights_description,
            "image_size": card.image_size,
            "unknown_threshold": card.open_set.threshold,
            "metrics": metrics,
        }


def create_app(
    model_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str] | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
):  # noqa: ANN201 - FastAPI
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    holder = ModelHolder(model_path, metrics_path)
    holder.get()  # fail at start, with a clear message, if there is no model
    app = FastAPI(title="faceops", description="Who is this? Upload a photo; get the faces, names and confidences.")
    page = resources.files("faceops").joinpath("web/index.html").read_text()

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "send the photo as multipart form field 'file'"}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_version": holder.version}

    @app.get("/model")
    def model() -> dict:
        return holder.info()

    @app.post("/reload")
    def reload() -> dict:
        holder.get()
        return {"model_version": holder.version}

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=5, max_part_size=max_upload_bytes + 1)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(400, "send the photo as multipart form field 'file'")
            data, name = await upload.read(max_upload_bytes + 1), upload.filename or "upload"
        else:
            data, name = await _read_body(request, max_upload_bytes), "body"
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"upload is larger than {max_upload_bytes // (1024 * 1024)} MiB")
        try:
            rgb = decode_image(data, name)
        except ImageError as exc:
            raise HTTPException(STATUS_FOR.get(exc.kind, 400), exc.reason) from None
        faces = holder.predict(rgb)
        return {
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "model_version": holder.version,
            "faces": [face.to_dict() for face in faces],
        }

    return app


async def _read_body(request, limit: int) -> bytes:  # noqa: ANN001 - starlette Request
    """The raw body, read no further than one byte past `limit` (so a huge upload is not held in memory)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def serve(model_path: str, host: str, port: int, metrics_path: str | None) -> None:
    import uvicorn

    uvicorn.run(create_app(model_path, metrics_path), host=host, port=port, log_level="info")
