"""Face detection and cropping, shared by the `faces` stage, `faceops capture` and prediction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from faceops.errors import FaceopsError
from faceops.params import FacesParams


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"


class FaceDetector:
    """OpenCV's Haar cascade for frontal faces, set by params.yaml's `faces` section; loaded on first use."""

    def __init__(self, settings: FacesParams = FacesParams()) -> None:
        self.settings = settings

    @cached_property
    def _cascade(self):  # noqa: ANN202 - cv2 has no type stubs
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise FaceopsError(
                f"{path}: OpenCV's Haar cascade is missing; install opencv-python-headless<5 (5.x ships none)"
            )
        return cascade

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Boxes of the faces in an RGB image, largest first; one box per face (see `suppress_overlaps`)."""
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        size = self.settings.min_face_size
        found, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.settings.scale_factor,
            minNeighbors=self.settings.min_neighbors,
            minSize=(size, size),
            outputRejectLevels=True,
        )
        boxes = [Box(int(x), int(y), int(w), int(h)) for (x, y, w, h) in found]
        kept = suppress_overlaps(boxes, [float(w) for w in np.ravel(weights)])
        return sorted(kept, key=lambda box: box.area, reverse=True)


def overlap(a: Box, b: Box) -> float:
    """The share of the smaller box that lies inside the other."""
    width = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    height = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / min(a.area, b.area)


def suppress_overlaps(boxes: list[Box], scores: list[float], limit: float = 0.5) -> list[Box]:
    """The boxes left when each box that mostly covers, or lies in, a surer one is dropped.

    Haar's grouping keeps a large, weak box around a face (or around several) beside the face's own
    box: a 20-face group photo gave 21 boxes. Two boxes that share most of the smaller one are one
    face, so only the one with the higher cascade score stays.
    """
    kept: list[Box] = []
    for box, _ in sorted(zip(boxes, scores), key=lambda pair: -pair[1]):
        if all(overlap(box, other) < limit for other in kept):
            kept.append(box)
    return kept


def crop_face(rgb: np.ndarray, box: Box, margin: float, size: int) -> np.ndarray:
    """A square crop around `box`, grown by `margin` on each side, resized to `size` pixels."""
    import cv2

    height, width = rgb.shape[:2]
    side = max(box.width, box.height) * (1 + 2 * margin)
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    left = int(round(max(0, cx - side / 2)))
    top = int(round(max(0, cy - side / 2)))
    right = int(round(min(width, cx + side / 2)))
    bottom = int(round(min(height, cy + side / 2)))
    crop = rgb[top:bottom, left:right]
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
