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

from faceops.core.errors import FaceopsError, ImageError
from faceops.core.names import person_name, refuse_second_spelling
from faceops.data.dataset import not_regular
from faceops.data.detect import Box, FaceDetector
from faceops.data.gates import CaptureSettings, IntakeGate, Refusal
from faceops.data.images import is_image_name, load_image
from faceops.data.photos import face_region, next_number, save_photo

log = logging.getLogger(__name__)

REASONS = ("no face", "several faces", "too small", "too blurry", "duplicate", "unreadable", "link or special file")


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
