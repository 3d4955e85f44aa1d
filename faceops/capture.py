"""`faceops capture`: record face photos of one person from a webcam, a video file or a photo folder.

Every saved photo passed the same face detector the `faces` stage uses and a few quality gates; the
summary counts what was kept and why the rest was not. Photos are written atomically under new,
ordered names, so an interrupted capture leaves only whole photos and a second capture adds to the set.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceops.atomic import atomic_path
from faceops.dataset import check_person_name
from faceops.detect import Box, FaceDetector
from faceops.errors import FaceopsError, ImageError
from faceops.images import is_image_name, load_image

log = logging.getLogger(__name__)

REASONS = ("no face", "several faces", "too small", "too blurry", "duplicate", "unreadable")


@dataclass(frozen=True)
class CaptureSettings:
    count: int = 100  # stop after this many saved photos
    every: int = 1  # look at every Nth frame only
    min_face: int = 60  # pixels: smaller faces are too far from the camera
    min_sharpness: float = 20.0  # variance of the Laplacian of the face; lower is blurry
    duplicate_difference: float = 4.0  # mean grey-level difference to the last saved face; lower is a repeat
    margin: float = 0.6  # the saved photo is the face box grown by this much on each side


@dataclass
class CaptureSummary:
    person: str
    folder: Path
    saved: list[Path] = field(default_factory=list)
    frames: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one frame or file it happened to
    interrupted: bool = False

    def lines(self) -> list[str]:
        lines = [
            f"{len(self.saved)} photos of {self.person} saved to {self.folder} from {self.frames} frames looked at"
            + (" (interrupted; every saved photo is complete)" if self.interrupted else "")
        ]
        for reason in REASONS:
            if self.rejected[reason]:
                example = f" (e.g. {self.examples[reason]})" if reason in self.examples else ""
                lines.append(f"  rejected, {reason}: {self.rejected[reason]}{example}")
        return lines


def sharpness(grey_face: np.ndarray) -> float:
    import cv2

    return float(cv2.Laplacian(cv2.resize(grey_face, (128, 128)), cv2.CV_64F).var())


def frames_from(source: str) -> Iterator[tuple[str, np.ndarray | ImageError]]:
    """(name, RGB frame) from a camera index, a video file or a folder of photos, in order."""
    path = Path(source)
    if path.is_dir():
        for photo in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
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


def next_number(folder: Path, person: str) -> int:
    pattern = re.compile(rf"^{re.escape(person)}_(\d+)\.jpg$")
    numbers = [int(m.group(1)) for p in folder.glob("*.jpg") if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1


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
) -> CaptureSummary:
    """Save up to `settings.count` good face photos of `person` into `dest/person/`."""
    import cv2

    check_person_name(person, where="--person")
    detector = detector or FaceDetector()
    folder = Path(dest) / person
    summary = CaptureSummary(person, folder)
    number = next_number(folder, person) if folder.exists() else 1
    last_face: np.ndarray | None = None
    window = Preview() if preview else None

    def reject(reason: str, name: str) -> None:
        summary.rejected[reason] += 1
        summary.examples.setdefault(reason, name)

    frames = frames_from(source)
    try:
        with tqdm(total=settings.count, desc=f"capture {person}", unit="photo", disable=None) as bar:
            for index, (name, frame) in enumerate(frames):
                if len(summary.saved) >= settings.count:
                    break
                if index % settings.every:
                    continue
                summary.frames += 1
                if isinstance(frame, ImageError):
                    reject("unreadable", f"{name}: {frame.reason}")
                    continue
                boxes = detector.detect(frame)
                if window and not window.show(frame, boxes, len(summary.saved), settings.count):
                    break
                if not boxes:
                    reject("no face", name)
                    continue
                if len(boxes) > 1:
                    reject("several faces", name)
                    continue
                box = boxes[0]
                if box.width < settings.min_face:
                    reject("too small", f"{name}: {box.width} px < {settings.min_face}")
                    continue
                grey = cv2.cvtColor(frame[box.y : box.y + box.height, box.x : box.x + box.width], cv2.COLOR_RGB2GRAY)
                score = sharpness(grey)
                if score < settings.min_sharpness:
                    reject("too blurry", f"{name}: sharpness {score:.0f} < {settings.min_sharpness:g}")
                    continue
                face = cv2.resize(grey, (64, 64)).astype("float32")
                if last_face is not None and float(np.abs(face - last_face).mean()) < settings.duplicate_difference:
                    reject("duplicate", name)
                    continue
                photo = _region(frame, box, settings.margin)
                target = folder / f"{person}_{number:04d}.jpg"
                with atomic_path(target, suffix=".jpg") as tmp:
                    if not cv2.imwrite(str(tmp), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)):
                        raise FaceopsError(f"{target}: cannot be written")
                summary.saved.append(target)
                number += 1
                last_face = face
                bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        frames.close()
        if window:
            window.close()
    log.info("capture %s: %d saved, %d rejected", person, len(summary.saved), sum(summary.rejected.values()))
    return summary


def _region(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """The face box grown by `margin` on each side, clamped to the frame (no resizing: a raw photo)."""
    height, width = rgb.shape[:2]
    dx, dy = int(box.width * margin), int(box.height * margin)
    return rgb[
        max(0, box.y - dy) : min(height, box.y + box.height + dy),
        max(0, box.x - dx) : min(width, box.x + box.width + dx),
    ]
