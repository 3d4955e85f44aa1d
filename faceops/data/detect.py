"""Face detection and cropping, shared by the `faces` stage, `faceops capture` and prediction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.core.params import FacesParams


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

    @classmethod
    def parse(cls, text: str) -> Box:
        """The box from its manifest form "x,y,width,height"."""
        try:
            x, y, width, height = (int(part) for part in text.split(","))
        except ValueError:
            raise FaceopsError(f"box {text!r}: expected x,y,width,height in whole pixels") from None
        return cls(x, y, width, height)


DLIB_WINDOW = 80  # pixels: dlib's HOG and CNN detectors find faces about this size and larger, per upsampling


def upsampling(min_face_size: int) -> int:
    """Times to double the image so that faces of `min_face_size` pixels reach the dlib detectors' window."""
    times = 0
    while DLIB_WINDOW / 2**times > min_face_size:
        times += 1
    return times


class FaceDetector:
    """The face detector that params.yaml's `faces` section sets: OpenCV's Haar cascade, dlib's HOG detector
    or dlib's CNN (MMOD) detector; loaded on first use, once per process."""

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
        detector = self.settings.detector
        found = self._haar(rgb) if detector == "haar" else self._dlib(rgb, detector)
        size = self.settings.min_face_size
        found = [(box, score) for box, score in found if min(box.width, box.height) >= size]
        kept = suppress_overlaps([box for box, _ in found], [score for _, score in found])
        return sorted(kept, key=lambda box: box.area, reverse=True)

    def _haar(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
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
        return [(Box(int(x), int(y), int(w), int(h)), float(s)) for (x, y, w, h), s in zip(found, np.ravel(weights))]

    def _dlib(self, rgb: np.ndarray, detector: str) -> list[tuple[Box, float]]:
        from faceops.data.dlib_models import CNN_DETECTOR, load_model

        what = f"faces.detector {detector}"
        image = np.ascontiguousarray(rgb)
        times = upsampling(self.settings.min_face_size)
        if detector == "hog":
            rects, scores, _ = load_model("frontal_face_detector", "", what).run(image, times, 0.0)
            found = list(zip(rects, scores))
        else:
            found = [
                (d.rect, d.confidence)
                for d in load_model("cnn_face_detection_model_v1", CNN_DETECTOR, what)(image, times)
            ]
        height, width = rgb.shape[:2]
        boxes = []
        for rect, score in found:
            left, top = max(0, rect.left()), max(0, rect.top())
            right, bottom = min(width, rect.right() + 1), min(height, rect.bottom() + 1)
            if right > left and bottom > top:
                boxes.append((Box(left, top, right - left, bottom - top), float(score)))
        return boxes


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
