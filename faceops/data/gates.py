"""The quality gates of every way into dataset/raw: exactly one face, large enough, sharp enough, and no repeat of
a photo the person already has. Capture, enrol (CLI and REST), feedback accept and unknowns enrol all use them; the
service imports them without the camera and video code of faceops.data.capture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceops.core.errors import ImageError, UsageError
from faceops.data.detect import Box, FaceDetector
from faceops.data.images import is_image_name, load_image


@dataclass(frozen=True)
class CaptureSettings:
    count: int = 100  # stop after this many saved photos
    every: int = 1  # look at every Nth frame only
    min_face: int = 60  # pixels: smaller faces are too far from the camera
    min_sharpness: float = 20.0  # variance of the Laplacian of the face; lower is blurry
    min_difference: int = 12  # of 64 perceptual-hash bits to every photo saved of the person; fewer is a repeat
    interval: float | None = None  # seconds between saved photos; None: 1 for a camera, 0 for files
    margin: float = 0.6  # the saved photo is the face box grown by this much on each side


def face_hash(rgb: np.ndarray, box: Box) -> np.ndarray:
    """A 64-bit perceptual hash of a face (the low frequencies of the DCT of its landmark-aligned chip against their
    median). Measured on LFW: a shift of a few pixels, JPEG noise or re-detection in a saved photo changes at most
    10 bits, another photo of the same person 12 or more (16 in 95 % of pairs)."""
    import cv2
    from scipy.fft import dctn

    from faceops.data.dlib_models import LANDMARKS, import_dlib, load_model

    dlib = import_dlib("faceops capture")
    image = np.ascontiguousarray(rgb)
    rect = dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)
    chip = dlib.get_face_chip(image, load_model("shape_predictor", LANDMARKS, "faceops capture")(image, rect), 64, 0.1)
    small = cv2.resize(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    low = dctn(small.astype("float32"), norm="ortho")[:8, :8].ravel()
    return low > np.median(low[1:])


def sharpness(grey_face: np.ndarray) -> float:
    import cv2

    return float(cv2.Laplacian(cv2.resize(grey_face, (128, 128)), cv2.CV_64F).var())


@dataclass(frozen=True)
class Refusal:
    """Why a photo was kept out of the data set: one of REASONS, and the measure that failed (if one did)."""

    reason: str
    measure: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.measure})" if self.measure else self.reason


class RefusedPhotoError(UsageError):
    """A photo or crop the intake gates kept out of dataset/raw: one line naming it and why (the CLI's exit 2)."""

    def __init__(self, what: str, refusal: Refusal) -> None:
        super().__init__(f"{what}: {refusal}")
        self.what = what
        self.refusal = refusal


class IntakeGate:
    """The quality gates of every way into dataset/raw, for one person's folder: capture and enrol, POST
    /people/NAME/photos, `faceops feedback accept` and `faceops unknowns enrol`. In order: exactly one face, large
    enough, sharp enough, and unlike every photo the person already has (and every one this gate let through).

    A feedback crop is the face box grown by the margin a capture saves with, so the detector sees it as it sees
    a saved photo (the repeat check detects faces in those too): one gate for photos and crops alike."""

    def __init__(
        self, folder: Path, settings: CaptureSettings = CaptureSettings(), detector: FaceDetector | None = None
    ) -> None:
        self.settings = settings
        self.detector = detector or FaceDetector()
        self.known = _saved_hashes(folder, self.detector) if folder.is_dir() else []

    def judge(self, rgb: np.ndarray, boxes: list[Box] | None = None) -> Refusal | tuple[Box, np.ndarray]:
        """A photo's face box and hash if it passes (the hash joins `known` once the photo is saved), else why not.

        `boxes` are the detector's on this photo when the caller has them already."""
        import cv2

        boxes = self.detector.detect(rgb) if boxes is None else boxes
        if not boxes:
            return Refusal("no face")
        if len(boxes) > 1:
            return Refusal("several faces")
        box, settings = boxes[0], self.settings
        if box.width < settings.min_face:
            return Refusal("too small", f"{box.width} px < {settings.min_face}")
        grey = cv2.cvtColor(rgb[box.y : box.y + box.height, box.x : box.x + box.width], cv2.COLOR_RGB2GRAY)
        score = sharpness(grey)
        if score < settings.min_sharpness:
            return Refusal("too blurry", f"sharpness {score:.0f} < {settings.min_sharpness:g}")
        fingerprint = face_hash(rgb, box)
        closest = min((int((fingerprint != other).sum()) for other in self.known), default=64)
        if closest < settings.min_difference:
            return Refusal("duplicate", f"{closest} of 64 bits from a saved photo")
        return box, fingerprint

    def check(self, rgb: np.ndarray, what: str) -> None:
        """Let a photo through (its hash now counts as saved), or raise RefusedPhotoError naming `what` and why."""
        judged = self.judge(rgb)
        if isinstance(judged, Refusal):
            raise RefusedPhotoError(what, judged)
        self.known.append(judged[1])


def _saved_hashes(folder: Path, detector: FaceDetector) -> list[np.ndarray]:
    """Hashes of the faces in the person's photos already saved (by an earlier capture or by hand)."""
    hashes = []
    for photo in sorted(p for p in folder.iterdir() if is_image_name(p)):
        try:
            rgb = load_image(photo)
        except ImageError:
            continue
        boxes = detector.detect(rgb)
        if boxes:
            hashes.append(face_hash(rgb, boxes[0]))
    return hashes
