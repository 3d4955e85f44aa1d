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
        """Boxes of the faces in an RGB image, largest first."""
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        size = self.settings.min_face_size
        found = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self.settings.scale_factor,
            minNeighbors=self.settings.min_neighbors,
            minSize=(size, size),
        )
        boxes = [Box(int(x), int(y), int(w), int(h)) for (x, y, w, h) in found]
        return sorted(boxes, key=lambda box: box.area, reverse=True)


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
