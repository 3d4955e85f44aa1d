"""Strangers the service saw: faces answered "unknown" whose crops still wait in the record store, put in groups by
likeness, so that a group of one stranger's faces can become a new person (`faceops unknowns enrol`).

The service keeps no features of a face, only its crop (`pending/ID.jpg`, an hour at most) and its record, so the
features are computed again from the crop with the live model's backbone, the way rejections' are (the crop is
the photo, the face box inside it: faceops.data.negatives.inner_box). HDBSCAN (scikit-learn) groups them. A face
of someone forgotten, or being forgotten, never joins a group (FaceRecord.hidden_by).

`faceops unknowns` writes the groups (reports/unknowns.json) and a contact sheet (reports/unknowns.html); `enrol`
and /admin read that file, so the group a person enrols is the group they saw.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceops.core.atomic import read_json, write_json, write_text
from faceops.core.errors import FaceopsError, ImageError
from faceops.data.negatives import inner_box
from faceops.model.recogniser import UNKNOWN, Recogniser, unit_rows
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore, UnknownFaceError
from faceops.records.store import RecordStore

if TYPE_CHECKING:
    from faceops.data.detect import FaceDetector
    from faceops.data.gates import RefusedPhotoError

log = logging.getLogger(__name__)

MIN_GROUP = 3  # faces: fewer of one stranger say too little to enrol them
THUMBNAIL = 96  # pixels high, on the contact sheet
BATCH = 64  # crops through the backbone at once


@dataclass(frozen=True)
class UnknownFace:
    """A face answered "unknown" that still waits: its record and its crop (JPEG)."""

    record: FaceRecord
    jpeg: bytes


@dataclass(frozen=True)
class Group:
    number: int  # 1 is the largest
    faces: tuple[FaceRecord, ...]

    @property
    def closest(self) -> list[tuple[str, int]]:
        """The people the model found closest to its faces, most often first."""
        return Counter(face.label for face in self.faces).most_common()


@dataclass(frozen=True)
class Grouping:
    """What `faceops unknowns` found: the groups, and the faces in none (HDBSCAN's noise)."""

    made: float
    model: str  # the live model version whose backbone described the faces
    where: str  # the record store
    min_size: int
    groups: tuple[Group, ...]
    ungrouped: tuple[FaceRecord, ...]

    def group(self, number: int, source: str | os.PathLike[str]) -> Group:
        """Group `number`, or an error naming the groups there are."""
        found = next((group for group in self.groups if group.number == number), None)
        if found is None:
            there = ", ".join(str(group.number) for group in self.groups) or "none"
            raise FaceopsError(f"no group {number} in {source} (groups: {there}); `faceops unknowns` lists them again")
        return found

    def without(self, number: int) -> Grouping:
        return dataclasses.replace(self, groups=tuple(group for group in self.groups if group.number != number))

    def to_dict(self) -> dict:
        return {
            "made": self.made,
            "model": self.model,
            "records": self.where,
            "min_size": self.min_size,
            "groups": [{"group": g.number, "faces": [_face_dict(f) for f in g.faces]} for g in self.groups],
            "ungrouped": [_face_dict(face) for face in self.ungrouped],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Grouping:
        groups = tuple(
            Group(int(group["group"]), tuple(FaceRecord(**face) for face in group["faces"])) for group in data["groups"]
        )
        ungrouped = tuple(FaceRecord(**face) for face in data["ungrouped"])
        return cls(
            float(data["made"]), str(data["model"]), str(data["records"]), int(data["min_size"]), groups, ungrouped
        )


def _face_dict(record: FaceRecord) -> dict:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in ("verdict", "person")}


def unknown_faces(store: RecordStore, hidden: set[str]) -> list[UnknownFace]:
    """The faces answered "unknown" that wait in `store`, oldest first; none that may be of someone `hidden`."""
    faces = []
    for record in PendingStore(store).waiting():
        if record.name != UNKNOWN or record.hidden_by(hidden):
            continue
        try:
            faces.append(UnknownFace(record, store.get(f"pending/{record.id}.jpg")))
        except FileNotFoundError:  # given feedback, or expired, meanwhile
            continue
    return faces


def describe(faces: Sequence[UnknownFace], recogniser: Recogniser) -> tuple[list[UnknownFace], np.ndarray]:
    """The faces whose crops decode, and their features from the live model's backbone, one row each."""
    from faceops.data.images import decode_image

    extractor = recogniser.extractor
    kept, inputs = [], []
    for face in faces:
        try:
            rgb = decode_image(face.jpeg, f"pending face {face.record.id}")
        except ImageError as exc:
            log.warning("%s; left out", exc)
            continue
        kept.append(face)
        inputs.append(extractor.inputs_from_photo(rgb, [inner_box(rgb.shape[1], rgb.shape[0])]))
    if not kept:
        return [], np.zeros((0, extractor.n_features), dtype="float32")
    batches = [extractor(np.concatenate(inputs[start : start + BATCH])) for start in range(0, len(inputs), BATCH)]
    return kept, np.concatenate(batches)


def group_rows(features: np.ndarray, threshold: float, min_size: int = MIN_GROUP) -> list[np.ndarray]:
    """The rows of each group, largest group first: HDBSCAN's groups of the features' directions, each keeping only
    the faces within the live model's own "unknown" threshold (`threshold`, a cosine distance) of the group's common
    direction, the test that names a known person's face. HDBSCAN never makes one group of everything (a stranger
    seen alone would be all noise): when it finds none, all the faces are that one candidate group."""
    from sklearn.cluster import HDBSCAN

    if len(features) < max(min_size, 2):
        return []
    units = unit_rows(np.asarray(features, dtype="float64"))
    labels = HDBSCAN(min_cluster_size=min_size, copy=True).fit_predict(units)
    found = [np.flatnonzero(labels == label) for label in sorted(set(labels.tolist()) - {-1})]
    groups = []
    for rows in found or [np.arange(len(units))]:
        centre = unit_rows(units[rows].mean(axis=0, keepdims=True))[0]
        close = rows[1.0 - units[rows] @ centre <= threshold]
        if len(close) >= min_size:
            groups.append(close)
    return sorted(groups, key=lambda rows: (-len(rows), int(rows[0])))


def find_groups(
    faces: Sequence[UnknownFace], recogniser: Recogniser, where: str, min_size: int = MIN_GROUP
) -> Grouping:
    """The unknown faces in groups of likeness, numbered from 1 (the largest)."""
    kept, features = describe(faces, recogniser)
    rows = group_rows(features, recogniser.unknown_threshold, min_size)
    groups = tuple(Group(number, tuple(kept[i].record for i in group)) for number, group in enumerate(rows, start=1))
    grouped = {int(i) for group in rows for i in group}
    ungrouped = tuple(face.record for i, face in enumerate(kept) if i not in grouped)
    return Grouping(time.time(), recogniser.card.version, where, min_size, groups, ungrouped)


def read_grouping(path: str | os.PathLike[str]) -> Grouping:
    """The groups the last `faceops unknowns` wrote; an error that says to run it when there are none."""
    data = read_json(path, missing="no groups yet: run `faceops unknowns` first")
    try:
        return Grouping.from_dict(data)
    except (KeyError, TypeError, ValueError):
        raise FaceopsError(f"{path}: not the groups `faceops unknowns` writes; run it again") from None


def thumbnail(jpeg: bytes, height: int = THUMBNAIL) -> str:
    """A small copy of a crop as a data: URI, for a page that works offline and alone."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return ""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    ok, small = cv2.imencode(".jpg", cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    return f"data:image/jpeg;base64,{base64.b64encode(small.tobytes()).decode()}" if ok else ""


def write_sheet(
    grouping: Grouping, crops: Mapping[str, bytes], sheet: str | os.PathLike[str], groups: str | os.PathLike[str]
) -> None:
    """The groups as JSON (`groups`) and as a contact sheet (`sheet`): one row of thumbnails per group, the command
    that enrols it, then the faces in no group. A face whose crop is gone is counted, not shown."""
    from faceops.core.pages import render_page

    write_json(groups, grouping.to_dict())

    def shown(faces: Sequence[FaceRecord]) -> list[dict]:
        return [
            {"id": face.id, "image": thumbnail(crops[face.id]), "closest": face.label, "distance": face.distance}
            for face in faces
            if face.id in crops
        ]

    page = render_page(
        "unknowns.html.j2",
        made=time.strftime("%Y-%m-%d %H:%M", time.localtime(grouping.made)),
        grouping=grouping,
        groups=[(group, shown(group.faces)) for group in grouping.groups],
        ungrouped=shown(grouping.ungrouped),
    )
    write_text(sheet, page)


def enrol_group(
    store: RecordStore,
    group: Group,
    person: str,
    raw: str | os.PathLike[str],
    negatives: str | os.PathLike[str],
    hidden: set[str],
    detector: FaceDetector | None = None,
) -> tuple[list[Path], int, list[RefusedPhotoError]]:
    """The group's faces that still wait become photos of `person` in `raw`, as `faceops feedback accept` files a
    confirmed face: each is given the verdict "is `person`" (written before it leaves the pending place), then
    accepted through the same intake gates. Returns the photos saved, how many faces no longer waited (expired, or
    given feedback) and the crops the gates refused (they wait in the feedback place, for `faceops feedback`)."""
    pending, feedback = PendingStore(store), FeedbackStore(store)
    moved, gone = [], 0
    for face in group.faces:
        if face.hidden_by(hidden):
            gone += 1
            continue
        try:
            moved.append(pending.move_to_feedback(face.id, "is", person, feedback))
        except UnknownFaceError:
            gone += 1
    if not moved:
        wait = f"crops wait {pending.limits.ttl_seconds / 60:.0f} minutes"
        raise FaceopsError(
            f"none of the {len(group.faces)} faces of group {group.number} waits any more ({wait}); nothing was "
            "saved; run `faceops unknowns` again"
        )
    saved, refused = feedback.accept(moved, raw, negatives, detector)
    return saved, gone, refused
