"""Feedback from the service: "that is not X" / "this is Y", kept for review and turned into training data.

Every face the service names gets an id, and its crop waits in a pending folder for a limited time (and
count and size); nothing is kept beyond that unless feedback names it. `POST /feedback` moves the crop and
the verdict into the feedback folder; `faceops feedback accept` turns corrections into photos of the person
in dataset/raw and rejections into dataset/raw/.negatives/NAME (faceops.data.negatives), `reject` discards.
Crops, verdicts and ids live in a record store (faceops.records.store), which several service replicas may share.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.core.names import person_name, same_person
from faceops.records.store import Entry, RecordStore

if TYPE_CHECKING:
    from faceops.data.detect import FaceDetector
    from faceops.data.gates import RefusedPhotoError


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

    def hidden_by(self, hidden: set[str]) -> bool:
        """Whether this face may be of someone `hidden` (forgotten, or being forgotten): answered as or closest to
        them, or closest to "unknown", which the service writes when the closest person was hidden at the time."""
        return self.label == "unknown" or bool({self.name, self.label} & hidden)


class UnknownFaceError(FaceopsError):
    """A feedback id that names no waiting crop (never given, already used, or expired): the client's 404."""


class RecordStoreError(FaceopsError):
    """The record store could not take a write (full: 507; read-only, gone or failing: 503); nothing was lost."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def store_fault(exc: BaseException, doing: str) -> RecordStoreError:
    """One line for a failed store operation, with the HTTP status a client should get."""
    import errno

    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    return RecordStoreError(f"the record store could not {doing}: {reason}", 507 if full else 503)


def new_id() -> str:
    return secrets.token_hex(8)


class PendingStore:
    """Face crops waiting for feedback: `pending/<id>.jpg` and `pending/<id>.json` in the record store, pruned as
    new ones arrive (at most every `prune_every` seconds, so a bucket is not listed on every request)."""

    def __init__(
        self,
        store: RecordStore,
        limits: PendingLimits = PendingLimits(),
        prune_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits
        self.prune_every = prune_every
        self._pruned: float | None = None  # never: not 0.0, which a monotonic clock near boot is close to

    def keep(self, crops: Sequence[tuple[bytes, FaceRecord]]) -> None:
        """Store JPEG crops with their records, then prune if it is time to."""
        for jpeg, record in crops:
            self.store.put(f"pending/{record.id}.jpg", jpeg)
            self.store.put(f"pending/{record.id}.json", json.dumps(asdict(record)).encode())  # last: complete
        now = self.clock()
        if self._pruned is None or now - self._pruned >= self.prune_every:
            self._pruned = now
            self.prune()

    def prune(self, now: float | None = None) -> int:
        """Drop expired crops, then the oldest beyond the count and size caps; how many were dropped."""
        now = time.time() if now is None else now
        by_id: dict[str, list[Entry]] = {}
        for entry in self.store.entries("pending/"):
            by_id.setdefault(entry.key.rsplit("/", 1)[-1].split(".")[0], []).append(entry)
        faces = sorted(
            (min(entry.mtime for entry in parts), sum(entry.size for entry in parts), face_id)
            for face_id, parts in by_id.items()
        )
        total, dropped = sum(size for _, size, _ in faces), 0
        for index, (mtime, size, face_id) in enumerate(faces):
            over = len(faces) - index > self.limits.max_items or total > self.limits.max_bytes
            if now - mtime <= self.limits.ttl_seconds and not over:
                break
            self.store.delete(f"pending/{face_id}.json")
            self.store.delete(f"pending/{face_id}.jpg")
            total -= size
            dropped += 1
        return dropped

    def waiting(self, since: float = 0.0, now: float | None = None) -> list[FaceRecord]:
        """The records of the faces that wait (not expired), oldest first; only those kept at or after `since`
        (epoch seconds) are read, so a look at the latest few does not read a thousand records from a bucket."""
        now = time.time() if now is None else now
        records = []
        for entry in self.store.entries("pending/"):
            if not entry.key.endswith(".json") or entry.mtime < since:
                continue
            try:
                record = FaceRecord(**json.loads(self.store.get(entry.key)))
            except (FileNotFoundError, ValueError, TypeError):  # taken meanwhile, or not a record
                continue
            if now - record.time <= self.limits.ttl_seconds:
                records.append(record)
        return sorted(records, key=lambda record: (record.time, record.id))

    def move_to_feedback(self, face_id: str, verdict: str, person: str, feedback: FeedbackStore) -> FaceRecord:
        """Write the crop and verdict into `feedback` completely, then remove them from pending.

        A store that fails in between leaves the face waiting where it was (a retry works) and raises
        RecordStoreError; the verdict is never lost. Two replicas answering one id both write the same feedback key.
        """
        record, data = self._peek(face_id)
        record = replace(record, verdict=verdict, person=person)
        try:
            feedback.add(data, record)
        except (OSError, RuntimeError) as exc:
            raise store_fault(exc, f"keep the verdict on face {face_id} (it still waits; try again)") from None
        for key in (f"pending/{face_id}.json", f"pending/{face_id}.jpg"):
            try:
                self.store.delete(key)
            except (OSError, RuntimeError):  # kept twice is no loss; pruning removes the pending copy later
                continue
        return record

    def _peek(self, face_id: str) -> tuple[FaceRecord, bytes]:
        """The waiting record and crop of `face_id`, left in place; UnknownFaceError if unknown or expired."""
        if not face_id.isalnum() or len(face_id) > 64:
            raise FaceopsError(f"id {face_id!r} is not a face id from /predict")
        wait = f"crops wait {self.limits.ttl_seconds / 60:.0f} minutes"
        try:
            record = FaceRecord(**json.loads(self.store.get(f"pending/{face_id}.json")))
            data = self.store.get(f"pending/{face_id}.jpg")
        except (FileNotFoundError, ValueError, TypeError):
            raise UnknownFaceError(f"face {face_id} is unknown or expired ({wait})") from None
        except (OSError, RuntimeError) as exc:
            raise store_fault(exc, f"read face {face_id}") from None
        if time.time() - record.time > self.limits.ttl_seconds:
            raise UnknownFaceError(f"face {face_id} expired ({wait})")
        return record, data

    def take(self, face_id: str) -> tuple[bytes, FaceRecord]:
        """The crop and record of `face_id`, removed from the pending store; UnknownFaceError if unknown or expired."""
        if not face_id.isalnum() or len(face_id) > 64:
            raise FaceopsError(f"id {face_id!r} is not a face id from /predict")
        wait = f"crops wait {self.limits.ttl_seconds / 60:.0f} minutes"
        try:
            record = FaceRecord(**json.loads(self.store.take(f"pending/{face_id}.json")))  # the claim: once
            data = self.store.take(f"pending/{face_id}.jpg")
        except (FileNotFoundError, ValueError, TypeError):
            raise UnknownFaceError(f"face {face_id} is unknown or expired ({wait})") from None
        if time.time() - record.time > self.limits.ttl_seconds:
            raise UnknownFaceError(f"face {face_id} expired ({wait})")
        return data, record


class FeedbackStore:
    """Verdicts waiting for review: `feedback/<id>.jpg` and `feedback/<id>.json` (a FaceRecord with its verdict)."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def add(self, jpg: bytes, record: FaceRecord) -> None:
        """The crop, then the verdict (its presence marks the pair complete); a half pair is removed again."""
        self.store.put(f"feedback/{record.id}.jpg", jpg)
        try:
            self.store.put(f"feedback/{record.id}.json", json.dumps(asdict(record)).encode())
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.delete(f"feedback/{record.id}.jpg")
            raise

    def entries(self) -> list[FaceRecord]:
        records = []
        for entry in self.store.entries("feedback/"):
            if entry.key.endswith(".json"):
                try:
                    records.append(FaceRecord(**json.loads(self.store.get(entry.key))))
                except FileNotFoundError:  # accepted or discarded by someone else meanwhile
                    continue
        return sorted(records, key=lambda record: (record.time, record.id))

    def thumbnail(self, face_id: str) -> str:
        return self.store.locate(f"feedback/{face_id}.jpg")

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
        self,
        records: list[FaceRecord],
        raw: str | os.PathLike[str],
        negatives: str | os.PathLike[str],
        detector: FaceDetector | None = None,
    ) -> tuple[list[Path], list[RefusedPhotoError]]:
        """Corrections become photos of the person in `raw`; rejections photos in `negatives`/NAME.

        Each crop passes the intake gates first (faceops.data.gates.IntakeGate: one face, size, sharpness, unlike
        the person's photos there); a refused one stays waiting here and is returned with why, never lost."""
        from faceops.data.gates import IntakeGate, RefusedPhotoError
        from faceops.data.images import decode_image
        from faceops.data.photos import save_photo

        saved, refused, gates = [], [], {}
        for record in records:
            rgb = decode_image(self.store.get(f"feedback/{record.id}.jpg"), f"feedback {record.id}")
            folder = Path(raw if record.verdict == "is" else negatives) / record.person
            if folder not in gates:
                gates[folder] = IntakeGate(folder, detector=detector)
            try:
                gates[folder].check(rgb, f"feedback {record.id}")
            except RefusedPhotoError as exc:
                refused.append(exc)
                continue
            saved.append(save_photo(folder, record.person, rgb))
            self.discard([record])
        return saved, refused

    def discard(self, records: list[FaceRecord]) -> None:
        for record in records:
            self.store.delete(f"feedback/{record.id}.json")
            self.store.delete(f"feedback/{record.id}.jpg")


def crop_jpeg(rgb: np.ndarray) -> bytes:
    """A face crop as JPEG bytes, as the pending and feedback stores keep it."""
    import cv2

    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise FaceopsError("a face crop could not be encoded as JPEG")
    return jpeg.tobytes()


def verdict_of(body: object, people: set[str]) -> tuple[str, str, str]:
    """(id, "is" | "not", person) from a /feedback body {"id", "person" | "not"}; FaceopsError saying what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise FaceopsError('send JSON {"id": FACE_ID, "person": NAME} or {"id": FACE_ID, "not": NAME}')
    given = [key for key in ("person", "not") if key in body]
    if len(given) != 1 or not isinstance(body[given[0]], str):
        raise FaceopsError('give exactly one of "person" (who it is) and "not" (who it is not), as a name')
    name = person_name(body[given[0]], given[0])
    if name not in people:
        other = same_person(name, people)
        hint = f"; the person is spelt {other!r}" if other else ""
        raise FaceopsError(f"{given[0]}: {name!r} is not a person of this model or data set{hint}")
    return body["id"], "is" if given[0] == "person" else "not", name
