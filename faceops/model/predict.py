"""Who is this? Detect faces in a photo and name them with a trained recogniser."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.core.params import FacesParams
from faceops.data.detect import Box, FaceDetector
from faceops.data.images import load_image
from faceops.model.backbones import Inputs
from faceops.model.recogniser import Identity, Recogniser


@dataclass(frozen=True)
class Face:
    box: Box
    name: str  # or "unknown"
    confidence: float
    distance: float  # to the person's reference; above the model's threshold means unknown
    label: str = ""  # the closest person, even when the answer is unknown (kept out of answers to clients)

    def to_dict(self) -> dict:
        return {
            "box": asdict(self.box),
            "name": self.name,
            "confidence": round(self.confidence, 4),
            "distance": round(self.distance, 4),
        }


class FacePredictor:
    """Detects, crops (as the faces stage did for training) and names every face in a photo."""

    def __init__(self, recogniser: Recogniser) -> None:
        self.recogniser = recogniser

    @property
    def faces_params(self) -> FacesParams:
        return self.recogniser.card.faces.params()

    @cached_property
    def detector(self) -> FaceDetector:
        return FaceDetector(self.faces_params)

    def predict(self, rgb: np.ndarray) -> list[Face]:
        boxes = self.detector.detect(rgb)
        if not boxes:
            return []
        return self._faces(boxes, self.recogniser.identify_in_photo(rgb, boxes))

    def predict_many(
        self, photos: Sequence[str | os.PathLike[str]], batch_size: int | None = None
    ) -> Iterator[tuple[int, list[Face] | FaceopsError]]:
        """Each photo's faces (or why it could not be read), in order, through the backbone's input pipeline: the
        photos are read, and their faces found and cropped, while the network describes the faces before them,
        many at a time (VGG16: near the network's own speed; `batch_size` None: the backbone's choice for the
        device). One photo at a time is `predict`."""
        extractor, detector, lock = self.recogniser.extractor, self.detector, threading.Lock()
        found: dict[int, list[Box] | FaceopsError] = {}

        def load(item: int) -> np.ndarray:
            try:
                rgb = load_image(photos[item])
                with lock:  # one detection at a time: a detector is not safe to share between threads
                    boxes = detector.detect(rgb)
            except FaceopsError as exc:
                found[item] = exc
                return np.zeros((0,), dtype="uint8")
            found[item] = boxes
            return extractor.inputs_from_photo(rgb, boxes) if boxes else np.zeros((0,), dtype="uint8")

        answers: dict[int, list[Identity]] = {}
        done = 0
        for items, features in extractor.stream(Inputs(len(photos), load), batch_size):
            for item, answer in zip(items.tolist(), self.recogniser.identify(features)):
                answers.setdefault(item, []).append(answer)
            for item in range(done, int(items[-1])):  # the last item's faces may go on in the next batch
                yield item, self._faces(found.pop(item), answers.pop(item, []))
            done = int(items[-1])
        for item in range(done, len(photos)):
            yield item, self._faces(found.pop(item), answers.pop(item, []))

    @staticmethod
    def _faces(boxes: list[Box] | FaceopsError, answers: list[Identity]) -> list[Face] | FaceopsError:
        if isinstance(boxes, FaceopsError):
            return boxes
        return [Face(box, a.name, a.confidence, a.distance, a.label) for box, a in zip(boxes, answers)]
