"""`faceops capture`: record face photos of one person from a webcam, a video file or a photo folder.

Every saved photo passed the same face detector the `faces` stage uses and a few quality gates; the
summary counts what was kept and why the rest was not, and how varied the set is. A recogniser learns
a person from varied photos: a candidate is compared with every photo already saved for the person
(a perceptual hash of the face), camera captures are spaced in time, and in camera mode the person
is asked to turn, look up or take glasses off. Photos are written atomically under new, ordered
names, so an interrupted capture leaves only whole photos and a second capture adds to the set.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceops.core.errors import FaceopsError, ImageError, UsageError
from faceops.core.names import person_name, refuse_second_spelling
from faceops.data.dataset import not_regular
from faceops.data.detect import Box, FaceDetector
from faceops.data.images import is_image_name, load_image
from faceops.data.photos import face_region, next_number, save_photo

log = logging.getLogger(__name__)

REASONS = ("no face", "several faces", "too small", "too blurry", "duplicate", "unreadable", "link or special file")


@dataclass(frozen=True)
class CaptureSettings:
    count: int = 100  # stop after this many saved photos
    every: int = 1  # look at every Nth frame only
    min_face: int = 60  # pixels: smaller faces are too far from the camera
    min_sharpness: float = 20.0  # variance of the Laplacian of the face; lower is blurry
    min_difference: int = 12  # of 64 perceptual-hash bits to every photo saved of the person; fewer is a repeat
    interval: float | None = None  # seconds between saved photos; None: 1 for a camera, 0 for files
    margin: float = 0.6  # the saved photo is the face box grown by this much on each side


VARIETY_PROMPTS = (
    "look straight at the camera",
    "turn your head a little to your left",
    "turn your head a little to your right",
    "look up a little",
    "look down a little",
    "smile, then a neutral face",
    "glasses off (or on)",
    "move to other light: by a window, under a lamp",
)
VARIED_BITS, SIMILAR_BITS = 20, 14  # median hash distance of a varied set, of a set of look-alikes


@dataclass
class CaptureSummary:
    person: str
    folder: Path
    saved: list[Path] = field(default_factory=list)
    frames: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one frame or file it happened to
    interrupted: bool = False
    hashes: list[np.ndarray] = field(default_factory=list)  # of the saved faces, in order

    refused: str = ""  # the first frame not saved and why, one line: "NAME: REASON (MEASURE)"

    def reject(self, name: str, refusal: Refusal) -> None:
        """Count a frame not saved, keeping the first example of each reason for the summary."""
        self.rejected[refusal.reason] += 1
        self.examples.setdefault(refusal.reason, f"{name}: {refusal.measure}" if refusal.measure else name)
        self.refused = self.refused or f"{name}: {refusal}"

    @property
    def variety(self) -> float | None:
        """The median number of hash bits in which two saved faces differ (None below 2 photos)."""
        if len(self.hashes) < 2:
            return None
        stacked = np.stack(self.hashes)
        pairs = (stacked[:, None, :] != stacked[None, :, :]).sum(axis=2)
        return float(np.median(pairs[np.triu_indices(len(stacked), 1)]))

    def lines(self) -> list[str]:
        lines = [
            f"{len(self.saved)} photos of {self.person} saved to {self.folder} from {self.frames} frames looked at"
            + (" (interrupted; every saved photo is complete)" if self.interrupted else "")
        ]
        for reason in REASONS:
            if self.rejected[reason]:
                example = f" (e.g. {self.examples[reason]})" if reason in self.examples else ""
                lines.append(f"  rejected, {reason}: {self.rejected[reason]}{example}")
        variety = self.variety
        if variety is not None:
            verdict = (
                "varied"
                if variety >= VARIED_BITS
                else "look-alikes: capture again with other poses, light and expressions"
                if variety < SIMILAR_BITS
                else "somewhat varied: a few more poses and lights would help"
            )
            lines.append(f"  variety: saved faces differ in a median {variety:.0f} of 64 hash bits ({verdict})")
        return lines


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


def frames_from(source: str) -> Iterator[tuple[str, np.ndarray | ImageError]]:
    """(name, RGB frame) from a camera index, a video file or a folder of photos, in order."""
    path = Path(source)
    if path.is_dir():
        for photo in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
            if (why := not_regular(photo)) is not None:
                yield photo.name, ImageError(str(photo), why, kind="not_regular")
                continue
            if photo.is_dir():
                continue
            if not is_image_name(photo):
                yield photo.name, ImageError(str(photo), f"not an image file (extension {photo.suffix or 'none'})")
                continue
            try:
                yield photo.name, load_image(photo)
            except ImageError as exc:
                yield photo.name, exc
        return
    import cv2

    if source.isdigit():
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise FaceopsError(f"camera {source}: cannot be opened (is it connected, and free?)")
    else:
        if not path.exists():
            raise FaceopsError(f"{source}: no such camera index, video file or folder")
        capture = cv2.VideoCapture(str(path))
        ok, first = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            raise FaceopsError(f"{source}: cannot be read as a video")
        yield "frame 1", cv2.cvtColor(first, cv2.COLOR_BGR2RGB)
    try:
        index = 1
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            index += 1
            yield f"frame {index}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


class Preview:
    """A window with the boxes and the count; `q` stops. Needs a display and OpenCV with GUI support."""

    def __init__(self) -> None:
        import cv2

        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise FaceopsError("--preview needs a display (DISPLAY is not set); capture runs headless without it")
        try:
            cv2.namedWindow("faceops capture")
        except cv2.error:
            raise FaceopsError(
                "--preview needs OpenCV with GUI support: pip install opencv-python (not -headless) in this venv"
            ) from None

    def show(self, rgb: np.ndarray, boxes: list[Box], saved: int, wanted: int) -> bool:
        import cv2

        frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        for box in boxes:
            cv2.rectangle(frame, (box.x, box.y), (box.x + box.width, box.y + box.height), (0, 200, 0), 2)
        cv2.putText(frame, f"{saved}/{wanted}  q: stop", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 200, 0), 2)
        cv2.imshow("faceops capture", frame)
        return (cv2.waitKey(1) & 0xFF) != ord("q")

    def close(self) -> None:
        import cv2

        cv2.destroyAllWindows()


def capture(
    person: str,
    source: str,
    dest: str | os.PathLike[str],
    settings: CaptureSettings = CaptureSettings(),
    detector: FaceDetector | None = None,
    preview: bool = False,
    prompt: Callable[[str], None] | None = None,
) -> CaptureSummary:
    """Save up to `settings.count` good, varied face photos of `person` into `dest/person/`.

    `prompt` is told what to vary next (camera mode: the CLI prints it); the photos already in the
    person's folder count as saved for the repeat check, so a second capture adds only new looks."""
    person = person_name(person, where="--person")
    if Path(dest).is_dir():
        refuse_second_spelling(person, [p.name for p in Path(dest).iterdir() if p.is_dir()], where="--person")
    detector = detector or FaceDetector()
    folder = Path(dest) / person
    summary = CaptureSummary(person, folder)
    number = next_number(folder, person) if folder.exists() else 1
    gate = IntakeGate(folder, settings, detector)
    camera = source.isdigit()
    interval = settings.interval if settings.interval is not None else (1.0 if camera else 0.0)
    last_saved = -float("inf")
    window = Preview() if preview else None
    prompts = VARIETY_PROMPTS if camera and prompt else ()
    per_prompt = max(1, settings.count // max(len(prompts), 1))
    if prompts:
        prompt(prompts[0])
    frames = frames_from(source)
    try:
        with tqdm(total=settings.count, desc=f"capture {person}", unit="photo", disable=None) as bar:
            for index, (name, frame) in enumerate(frames):
                if len(summary.saved) >= settings.count:
                    break
                if index % settings.every or time.monotonic() - last_saved < interval:
                    continue
                summary.frames += 1
                if isinstance(frame, ImageError):
                    kind = "link or special file" if frame.kind == "not_regular" else "unreadable"
                    summary.reject(name, Refusal(kind, frame.reason))
                    continue
                boxes = detector.detect(frame)
                if window and not window.show(frame, boxes, len(summary.saved), settings.count):
                    break
                judged = gate.judge(frame, boxes)
                if isinstance(judged, Refusal):
                    summary.reject(name, judged)
                    continue
                box, fingerprint = judged
                target = save_photo(folder, person, face_region(frame, box, settings.margin), number)
                number = int(target.stem.rsplit("_", 1)[1]) + 1
                summary.saved.append(target)
                summary.hashes.append(fingerprint)
                gate.known.append(fingerprint)
                last_saved = time.monotonic()
                bar.update(1)
                saved = len(summary.saved)
                if prompts and saved < settings.count and saved % per_prompt == 0:
                    prompt(prompts[(saved // per_prompt) % len(prompts)])
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        frames.close()
        if window:
            window.close()
    log.info("capture %s: %d saved, %d rejected", person, len(summary.saved), sum(summary.rejected.values()))
    return summary


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
