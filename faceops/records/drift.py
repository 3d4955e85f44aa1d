"""Drift: is recognition of someone slowly getting worse (a new beard, glasses, a child growing, a camera)?

The service appends one JSON line per named face (time, answer, closest person, distance to their
reference, model version; never an image) to a log in the record store (faceops.records.store). `faceops monitor`
compares each person's recent median distance and unknown share with what the live model measured on held-out faces
of theirs when it was trained, and names the people to capture again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from faceops.core.errors import FaceopsError
from faceops.model.card import ModelCard
from faceops.records.feedback import FaceRecord, FeedbackStore
from faceops.records.store import RecordStore

log = logging.getLogger(__name__)
RECOGNITIONS = "recognitions"  # the log's name in the record store (a folder: logs/recognitions.jsonl)
UNKNOWN = "unknown"


def log_recognitions(store: RecordStore, records: list[dict]) -> None:
    """Append one JSON line per named face to the store's recognition log."""
    if records:
        store.append(RECOGNITIONS, "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records))


def read_records(store: RecordStore, since: float) -> list[dict]:
    """The records at or after `since` (epoch seconds), from every replica's log; bad lines are skipped."""
    records = []
    for line in store.lines(RECOGNITIONS):
        try:
            record = json.loads(line)
            if float(record["time"]) >= since:
                records.append(record)
        except (ValueError, KeyError, TypeError):
            continue
    return records


def parse_since(text: str, now: float | None = None) -> float:
    """'7d', '12h', '30m' or an ISO date -> epoch seconds."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if match:
        return now - float(match.group(1)) * {"d": 86400, "h": 3600, "m": 60}[match.group(2)]
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise FaceopsError(
            f"--since {text!r}: allowed: a duration such as 7d, 12h, 30m, or a date 2026-11-01"
        ) from None


@dataclass(frozen=True)
class PersonDrift:
    person: str
    faces: int  # recent faces whose closest person they were
    median_distance: float
    baseline_distance: float  # the live model's median on held-out faces of theirs
    unknown_share: float
    baseline_unknown_share: float
    drifted: bool

    @property
    def rise(self) -> float:
        return self.median_distance - self.baseline_distance


@dataclass(frozen=True)
class MonitorSettings:
    max_rise: float = 0.05  # cosine distance the recent median may exceed the baseline by
    min_faces: int = 10  # fewer recent faces of a person say nothing


def face_key(time: object, distance: object, model: object) -> tuple | None:
    """What ties a log line to the feedback on the same face (both carry the answer's time and distance)."""
    try:
        return round(float(time), 6), round(float(distance), 6), model  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def faces_of(records: list[dict], verdicts: Sequence[FaceRecord] = ()) -> list[dict]:
    """The recognitions that are faces of the person in their `label`: answered with that name and not said
    otherwise by feedback ("not"), or confirmed by feedback ("is") whatever the answer was.

    A stranger correctly answered "unknown" is only *closest* to someone; counting it under that person
    would raise their distance and unknown share, and report drift for someone who has not changed."""

    denied = {face_key(v.time, v.distance, v.model_version) for v in verdicts if v.verdict == "not"}
    faces = [
        record
        for record in records
        if record.get("name") == record.get("label")
        and (key := face_key(record.get("time"), record.get("distance"), record.get("model"))) is not None
        and key not in denied
    ]
    faces += [
        {"time": v.time, "name": v.name, "label": v.label, "distance": v.distance, "model": v.model_version}
        for v in verdicts
        if v.verdict == "is" and v.person == v.label and v.name != v.label  # answered otherwise: not in `faces` yet
    ]
    return faces


def monitor(
    records: list[dict],
    card: ModelCard,
    settings: MonitorSettings = MonitorSettings(),
    verdicts: Sequence[FaceRecord] = (),
) -> list[PersonDrift]:
    """Per person of the live model: recent faces named as them (or confirmed by feedback), of this model
    version only, against its training baseline."""
    baseline = card.open_set
    if len(baseline.median_distance) != len(card.labels):
        raise FaceopsError("the live model's card has no per-person baseline; train it again with dvc repro")
    recent: dict[str, list[dict]] = defaultdict(list)
    for record in faces_of(records, verdicts):
        if record.get("model") == card.version and record.get("label") in card.labels:
            recent[record["label"]].append(record)
    drifts = []
    for index, person in enumerate(card.labels):
        faces = recent.get(person, [])
        if not faces or person in card.forgotten:
            continue
        median = statistics.median(float(face["distance"]) for face in faces)
        unknown = sum(face["name"] == UNKNOWN for face in faces) / len(faces)
        drifted = len(faces) >= settings.min_faces and median - baseline.median_distance[index] > settings.max_rise
        drifts.append(
            PersonDrift(
                person,
                len(faces),
                median,
                baseline.median_distance[index],
                unknown,
                baseline.unknown_share[index],
                drifted,
            )
        )
    return drifts


@dataclass(frozen=True)
class DriftSummary:
    """What `faceops monitor` and the report say: the live model's recent recognitions against its baseline."""

    where: str  # the record store
    since: str  # as given: "7d"
    recognitions: int  # records since then, any model version
    skipped: int  # of other model versions (distances differ between models)
    people: tuple[PersonDrift, ...]
    settings: MonitorSettings

    @property
    def drifted(self) -> list[PersonDrift]:
        return [drift for drift in self.people if drift.drifted]


def summarise_drift(
    store: RecordStore, card: ModelCard, since: str, settings: MonitorSettings = MonitorSettings()
) -> DriftSummary:
    start = parse_since(since)
    records = read_records(store, start)
    verdicts = [record for record in _verdicts(store) if record.time >= start]
    people = monitor(records, card, settings, verdicts)
    skipped = sum(record.get("model") != card.version for record in records)
    return DriftSummary(store.where, since, len(records), skipped, tuple(people), settings)


def _verdicts(store: RecordStore) -> list[FaceRecord]:
    """The feedback waiting in the store; a damaged record makes drift go without feedback, said in the log."""
    try:
        return FeedbackStore(store).entries()
    except (ValueError, TypeError) as exc:
        log.warning("feedback records in %s cannot be read (%s); drift counts named faces only", store.where, exc)
        return []


def format_drift(drifts: list[PersonDrift], skipped: int, settings: MonitorSettings) -> str:
    lines = [
        "| person | recent faces | median distance | at training | unknown share | at training | drifted |",
        "|---|---|---|---|---|---|---|",
    ]
    for drift in drifts:
        lines.append(
            f"| {drift.person} | {drift.faces} | {drift.median_distance:.3f} | {drift.baseline_distance:.3f} | "
            f"{drift.unknown_share:.0%} | {drift.baseline_unknown_share:.0%} | {'YES' if drift.drifted else 'no'} |"
        )
    if skipped:
        lines.append(f"{skipped} records of other model versions were not compared (distances differ between models)")
    flagged = [drift for drift in drifts if drift.drifted]
    lines.append(
        f"{len(flagged)} of {len(drifts)} people drifted (median distance up by more than {settings.max_rise:g}, "
        f"at least {settings.min_faces} recent faces)"
    )
    lines += [f"  faceops capture --person {drift.person}" for drift in flagged]
    return "\n".join(lines)
