"""The service's worker processes: they decode photos and run detection and the backbone, so that no request
waits behind another's face and the web process does no image work.

One worker per core (`--workers`). Each request names the live model's private copy, so every worker switches
to a new model on its next request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from faceops.core.errors import ImageError
from faceops.core.parallel import process_pool, worker_count
from faceops.data.negatives import CROP_MARGIN
from faceops.records.feedback import FaceRecord, crop_jpeg, new_id
from faceops.service.holder import LiveModel

log = logging.getLogger(__name__)

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
    from faceops.data.images import decode_image
    from faceops.data.photos import face_region

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
    """Keep a photo of `person` for the next retrain if it passes the intake gates (faceops capture's: one face,
    large and sharp enough, unlike the person's photos); where it went, or why not."""
    from faceops.data.gates import IntakeGate, RefusedPhotoError
    from faceops.data.images import decode_image
    from faceops.data.photos import save_photo

    try:
        rgb = decode_image(data, name)
    except ImageError as exc:
        return {"error": exc.kind, "reason": exc.reason}
    try:
        IntakeGate(folder / person, detector=_predictor(model_path).detector).check(rgb, name)
    except RefusedPhotoError as exc:
        return {"error": "refused", "reason": f"{exc.refusal}; nothing was saved"}
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


# --- in the web process -----------------------------------------------------------------------------


class Workers:
    """The pool of worker processes, as the web process's handlers use it: awaited, never run on the event loop."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count or worker_count()
        self.pool = process_pool(self.count)

    def _submit(self, function, *args) -> asyncio.Future:  # noqa: ANN001, ANN002 - any of the functions above
        """`function(*args)` in a worker, as a future of the running loop."""
        return asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def warm_up(self, model: LiveModel) -> None:
        """Load the model in every worker before the first request, so that none waits for it."""
        started = time.perf_counter()
        pids = await asyncio.gather(*(self._submit(warm_up, model.path, 0.3) for _ in range(self.count)))
        log.info("%d worker process(es) ready in %.1f s", len(set(pids)), time.perf_counter() - started)

    async def predict(self, model: LiveModel, data: bytes, name: str) -> dict:
        """`predict_upload` in a worker."""
        return await self._submit(predict_upload, model.path, data, name, model.version)

    async def enrol(self, model: LiveModel, folder: Path, person: str, data: bytes, name: str) -> dict:
        """`enrol_upload` in a worker."""
        return await self._submit(enrol_upload, model.path, folder, person, data, name)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
