"""Who is this? Detect faces in a photo and name them with a trained recogniser."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from faceops.core.params import FacesParams
from faceops.data.detect import Box, FaceDetector
from faceops.model.recogniser import Recogniser


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
        return [
            Face(box, answer.name, answer.confidence, answer.distance, answer.label)
            for box, answer in zip(boxes, self.recogniser.identify_in_photo(rgb, boxes))
        ]
