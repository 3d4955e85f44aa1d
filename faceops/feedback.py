"""Feedback from the service: "that is not X" / "this is Y", kept for review and turned into training data.

Every face the service names gets an id, and its crop waits in a pending folder for a limited time (and
count and size); nothing is kept beyond that unless feedback names it. `POST /feedback` moves the crop and
the verdict into the feedback folder; `faceops feedback accept` turns corrections into photos of the person
in dataset/raw and rejections into dataset/negatives/NAME, `reject` discards.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceops.atomic import write_json
from faceops.dataset import check_person_name
from faceops.errors import FaceopsError

PENDING_DIR, FEEDBACK_DIR = ".faceops/pending", ".faceops/feedback"
NEGATIVES_DIR = "dataset/negatives"


@dataclass(frozen=True)
class PendingLimits:
    ttl_seconds: float = 3600.0  # a face's crop waits this long for feedback
    max_items: int = 1000
    max_bytes: int = 200 * 1024 * 1024


@dataclass(frozen=True)
class FaceRecord:
    """What the service answered for one face: the crop's id, the answer, the model that gave it."""

    id: str
    time: float
    name: str  # the answer: a person or "unknown"
    label: str  # the closest person, even when the answer was unknown
    distance: float
    model_version: str
    verdict: str = ""  # after feedback: "is" or "not"
    person: str = ""  # the person the verdict names


class UnknownFaceError(FaceopsError):
    """A feedback id that names no waiting crop (never given, already used, or expired): the client's 404."""


def new_id() -> str:
    return secrets.token_hex(8)


class PendingStore:
    """Face crops waiting for feedback: `<id>.jpg` and `<id>.json` in one folder, pruned as new ones arrive."""

    def __init__(self, folder: str | os.PathLike[str], limits: PendingLimits = PendingLimits()) -> None:
        self.folder = Path(folder)
        self.limits = limits

    def keep(self, crop_rgb: np.ndarray, record: FaceRecord) -> None:
        import cv2

        self.folder.mkdir(parents=True, exist_ok=True)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            return
        (self.folder / f"{record.id}.jpg").write_bytes(jpeg.tobytes())
        write_json(self.folder / f"{record.id}.json", asdict(record))  # last: its presence means complete

    def prune(self, now: float | None = None) -> int:
        """Drop expired crops, then the oldest beyond the count and size caps; how many were dropped."""
        now = time.time() if now is None else now
        entries = []
        for meta in self.folder.glob("*.json") if self.folder.is_dir() else []:
            try:
                stat = meta.stat()
                size = stat.st_size + (meta.with_suffix(".jpg").stat().st_size)
            except FileNotFoundError:  # taken or pruned by another process meanwhile
                continue
            entries.append((stat.st_mtime, size, meta))
        entries.sort()
        total, dropped = sum(size for _, size, _ in entries), 0
        for index, (mtime, size, meta) in enumerate(entries):
            over = len(entries) - index > self.limits.max_items or total > self.limits.max_bytes
            if now - mtime <= self.limits.ttl_seconds and not over:
                break
            meta.unlink(missing_ok=True)
            meta.with_suffix(".jpg").unlink(missing_ok=True)
            total -= size
            dropped += 1
        return dropped

    def take(self, face_id: str) -> tuple[bytes, FaceRecord]:
        """The crop and record of `face_id`, removed from the pending folder; FaceopsError if unknown or expired."""
        if not face_id.isalnum() or len(face_id) > 64:
            raise FaceopsError(f"id {face_id!r} is not a face id from /predict")
        meta, jpg = self.folder / f"{face_id}.json", self.folder / f"{face_id}.jpg"
        try:
            expired = time.time() - meta.stat().st_mtime > self.limits.ttl_seconds
            record, data = FaceRecord(**json.loads(meta.read_text())), jpg.read_bytes()
        except (FileNotFoundError, ValueError, TypeError):
            raise UnknownFaceError(
                f"face {face_id} is unknown or expired (crops wait {self.limits.ttl_seconds / 60:.0f} minutes)"
            ) from None
        meta.unlink(missing_ok=True)
        jpg.unlink(missing_ok=True)
        if expired:
            raise UnknownFaceError(f"face {face_id} expired (crops wait {self.limits.ttl_seconds / 60:.0f} minutes)")
        return data, record


class FeedbackStore:
    """Verdicts waiting for review: `<id>.jpg` and `<id>.json` (a FaceRecord with its verdict)."""

    def __init__(self, folder: str | os.PathLike[str] = FEEDBACK_DIR) -> None:
        self.folder = Path(folder)

    def add(self, jpg: bytes, record: FaceRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{record.id}.jpg").write_bytes(jpg)
        write_json(self.folder / f"{record.id}.json", asdict(record))

    def entries(self) -> list[FaceRecord]:
        records = []
        for meta in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            records.append(FaceRecord(**json.loads(meta.read_text())))
        return sorted(records, key=lambda record: record.time)

    def thumbnail(self, face_id: str) -> Path:
        return self.folder / f"{face_id}.jpg"

    def select(self, ids: list[str], every: bool) -> list[FaceRecord]:
        entries = {record.id: record for record in self.entries()}
        if every:
            return list(entries.values())
        unknown = [face_id for face_id in ids if face_id not in entries]
        if unknown:
            raise FaceopsError(f"no feedback with id {', '.join(unknown)} (faceops feedback list shows them)")
        if not ids:
            raise FaceopsError("name the feedback ids to act on, or --all")
        return [entries[face_id] for face_id in ids]

    def accept(
        self, records: list[FaceRecord], raw: str | os.PathLike[str], negatives: str | os.PathLike[str]
    ) -> list[Path]:
        """Corrections become photos of the person in `raw`; rejections photos in `negatives`/NAME."""
        import cv2

        from faceops.capture import save_photo

        saved = []
        for record in records:
            rgb = cv2.cvtColor(cv2.imread(str(self.thumbnail(record.id))), cv2.COLOR_BGR2RGB)
            folder = Path(raw if record.verdict == "is" else negatives) / record.person
            saved.append(save_photo(folder, record.person, rgb))
            self.discard([record])
        return saved

    def discard(self, records: list[FaceRecord]) -> None:
        for record in records:
            (self.folder / f"{record.id}.json").unlink(missing_ok=True)
            self.thumbnail(record.id).unlink(missing_ok=True)


def verdict_of(body: object, people: set[str]) -> tuple[str, str, str]:
    """(id, "is" | "not", person) from a /feedback body {"id", "person" | "not"}; FaceopsError saying what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise FaceopsError('send JSON {"id": FACE_ID, "person": NAME} or {"id": FACE_ID, "not": NAME}')
    given = [key for key in ("person", "not") if key in body]
    if len(given) != 1 or not isinstance(body[given[0]], str):
        raise FaceopsError('give exactly one of "person" (who it is) and "not" (who it is not), as a name')
    name = check_person_name(body[given[0]], given[0])
    if name not in people:
        raise FaceopsError(f"{given[0]}: {name!r} is not a person of this model or data set")
    return body["id"], "is" if given[0] == "person" else "not", name
