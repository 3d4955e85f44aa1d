"""What the admin console (/admin) shows, read from the data set, the live model's card, the record store, the
model registry and the groups of unknown faces.

Plain functions that read files and list stores: the routes run them off the event loop. No one hidden (forgotten,
or being forgotten) is listed, and no face that may be theirs is shown (FaceRecord.hidden_by).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.data.dataset import list_raw_files
from faceops.model.card import ModelCard
from faceops.people.forgotten import forgotten
from faceops.records.drift import face_key, read_records, summarise_drift
from faceops.records.feedback import FaceRecord, PendingStore
from faceops.records.store import RecordStore
from faceops.records.unknowns import read_grouping

RECENT = 50  # recognitions shown
QUEUE = 100  # waiting faces shown, newest first
DRIFT_SINCE = "7d"


def hidden_people(card: ModelCard, raw: str | os.PathLike[str]) -> set[str]:
    """Whom the console never names nor shows: forgotten (the live card's, the receipts') or being forgotten."""
    return forgotten(".", raw) | set(card.forgotten)


def people(store: RecordStore, card: ModelCard, raw: str | os.PathLike[str]) -> list[dict]:
    """Everyone with photos in `raw` or a label in the live card: photos, their threshold, when last named."""
    hidden = hidden_people(card, raw)
    photos = Counter(file.person for file in list_raw_files(raw)) if Path(raw).is_dir() else Counter()
    seen: dict[str, float] = {}
    for record in read_records(store, 0.0):
        name = record.get("name")
        if isinstance(name, str) and name in card.labels:
            seen[name] = max(seen.get(name, 0.0), float(record["time"]))
    rows = []
    for name in sorted((set(photos) | set(card.labels)) - hidden):
        known = name in card.labels
        rows.append(
            {
                "name": name,
                "photos": photos[name],
                "known": known,
                "threshold": round(card.open_set.threshold_of(card.labels.index(name)), 4) if known else None,
                "last_seen": seen.get(name),
            }
        )
    return rows


def _face(record: FaceRecord) -> dict:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in ("verdict", "person")}


def queue(store: RecordStore, card: ModelCard, raw: str | os.PathLike[str]) -> list[dict]:
    """The faces waiting for feedback, newest first: what /feedback can still take."""
    hidden = hidden_people(card, raw)
    waiting = [record for record in PendingStore(store).waiting() if not record.hidden_by(hidden)]
    return [_face(record) for record in reversed(waiting[-QUEUE:])]


def thumbnail(store: RecordStore, face_id: str, card: ModelCard, raw: str | os.PathLike[str]) -> bytes | None:
    """The crop of a waiting face; None when there is none, or it may be of someone hidden."""
    import json

    if not face_id.isalnum() or len(face_id) > 64:
        return None
    try:
        record = FaceRecord(**json.loads(store.get(f"pending/{face_id}.json")))
        if record.hidden_by(hidden_people(card, raw)):
            return None
        return store.get(f"pending/{face_id}.jpg")
    except (FileNotFoundError, ValueError, TypeError):
        return None


def recent(store: RecordStore, card: ModelCard, raw: str | os.PathLike[str]) -> list[dict]:
    """The latest recognitions, newest first, each with the id of its crop while that still waits."""
    hidden = hidden_people(card, raw)
    lines = [r for r in read_records(store, 0.0) if not ({r.get("name"), r.get("label")} & hidden)][-RECENT:]
    since = min((float(record["time"]) for record in lines), default=time.time()) - 1
    waiting = {face_key(r.time, r.distance, r.model_version): r.id for r in PendingStore(store).waiting(since)}
    return [
        {**record, "id": waiting.get(face_key(record.get("time"), record.get("distance"), record.get("model")))}
        for record in reversed(lines)
    ]


def versions(root: str | os.PathLike[str] = ".") -> dict:
    """The registered model versions, the live one marked, with the command that makes another live again."""
    from faceops.release.registry import versions as registered

    try:
        found = registered(root)
    except (FaceopsError, OSError, ValueError) as exc:  # not a git repository, no gto, output it cannot read
        return {"versions": [], "error": " ".join(str(exc).split())[:300]}
    rows = [{**dataclasses.asdict(v), "rollback": None if v.live else f"faceops rollback {v.version}"} for v in found]
    return {"versions": rows}


def drift(store: RecordStore, card: ModelCard, raw: str | os.PathLike[str]) -> dict:
    """Each person's recent distances against the live model's baseline, as `faceops monitor` says it."""
    try:
        summary = summarise_drift(store, card, DRIFT_SINCE)
    except FaceopsError as exc:
        return {"since": DRIFT_SINCE, "people": [], "error": str(exc)}
    hidden = hidden_people(card, raw)
    rows = [
        {**dataclasses.asdict(person), "rise": round(person.rise, 4)}
        for person in summary.people
        if person.person not in hidden
    ]
    return {"since": DRIFT_SINCE, "recognitions": summary.recognitions, "people": rows}


def unknown_groups(store: RecordStore, card: ModelCard, raw: str | os.PathLike[str]) -> dict:
    """The groups the last `faceops unknowns` wrote, with the ids of their faces that still wait (for thumbnails)."""
    try:
        grouping = read_grouping(LAYOUT.unknowns_groups)
    except FaceopsError as exc:
        return {"groups": [], "note": str(exc)}
    hidden = hidden_people(card, raw)
    waiting = {record.id for record in PendingStore(store).waiting()}
    groups = []
    for group in grouping.groups:
        shown = [face for face in group.faces if not face.hidden_by(hidden)]
        groups.append(
            {
                "group": group.number,
                "faces": len(shown),
                "waiting": [face.id for face in shown if face.id in waiting],
                "enrol": f"faceops unknowns enrol {group.number} --person NAME",
            }
        )
    made = time.strftime("%Y-%m-%d %H:%M", time.localtime(grouping.made))
    return {"made": made, "model": grouping.model, "groups": [group for group in groups if group["faces"]]}
