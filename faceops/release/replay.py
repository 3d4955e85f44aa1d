"""`faceops replay`: what the candidate would have answered to the service's recent faces, before it goes live.

The test faces say how the candidate scores; the recent recognitions say what the people at the door would see.
Each recognition in the record store's log whose crop is still kept (the pending crops, tied to their log line by
time, distance and model version) is named again by the live model and by the candidate, and the faces whose
answer changes are counted per person as the release gate counts them on the test faces (faceops.release.paired).
There is no truth for these faces, so each is counted under the live model's answer: "Ann: 3 faces now unknown".
"""

from __future__ import annotations

import math
import os
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.model.card import card_path
from faceops.model.recogniser import Recogniser
from faceops.records.drift import face_key, parse_since, read_records
from faceops.records.feedback import PendingLimits, PendingStore
from faceops.records.store import RecordStore
from faceops.records.unknowns import UnknownFace, describe
from faceops.release.paired import AnswerChanges, count_changes


@dataclass(frozen=True)
class Replay:
    """The recent recognitions named again by both models, and what changes."""

    where: str  # the record store
    since: str  # as given: "7d"
    recognitions: int  # log lines since then
    replayed: int  # of them, with a crop still kept
    live: str  # model versions
    candidate: str
    changes: AnswerChanges

    def to_dict(self) -> dict:
        return {
            "where": self.where,
            "since": self.since,
            "recognitions": self.recognitions,
            "replayed": self.replayed,
            "live": self.live,
            "candidate": self.candidate,
            "changes": self.changes.to_dict(),
        }

    def text(self) -> str:
        """What the command prints: where from, then one line a person whose answers change."""
        head = (
            f"replayed {self.replayed} of {self.recognitions} recognitions since {self.since} in {self.where} "
            f"(those whose crop is still kept); live model {self.live}, candidate {self.candidate}"
        )
        if not self.changes.faces:
            return f"{head}\nno face gets another answer from the candidate"
        lines = [head, f"{self.changes.faces} faces get another answer from the candidate:"]
        return "\n".join(lines + [f"  {line}" for line in self.changes.lines()])


def kept_faces(store: RecordStore, since: str, hidden: Set[str]) -> tuple[int, list[UnknownFace]]:
    """How many recognitions the log holds since `since`, and those of them whose crop is still kept, oldest
    first; none that may be of someone `hidden`. FaceopsError when there is no log or nothing to replay."""
    records = read_records(store, parse_since(since))
    if not records:
        raise FaceopsError(f"no recognitions since {since} in {store.where}'s log; send photos to faceops serve")
    logged = {face_key(record.get("time"), record.get("distance"), record.get("model")) for record in records}
    faces, hidden = [], set(hidden)
    for record in PendingStore(store, PendingLimits(ttl_seconds=math.inf)).waiting(parse_since(since)):
        if record.hidden_by(hidden) or face_key(record.time, record.distance, record.model_version) not in logged:
            continue
        try:
            faces.append(UnknownFace(record, store.get(f"pending/{record.id}.jpg")))
        except FileNotFoundError:  # given feedback, or pruned, meanwhile
            continue
    if not faces:
        raise FaceopsError(
            f"nothing to replay: none of the {len(records)} recognitions since {since} has its crop still kept in "
            f"{store.where} (a crop waits an hour)"
        )
    return len(records), faces


def answers(faces: list[UnknownFace], recogniser: Recogniser) -> dict[str, str]:
    """Face id -> the recogniser's answer, for the faces whose crops decode."""
    kept, features = describe(faces, recogniser)
    return {face.record.id: identity.name for face, identity in zip(kept, recogniser.identify(features))}


def replay(
    store: RecordStore,
    candidate_path: str | os.PathLike[str],
    live_path: str | os.PathLike[str],
    since: str,
    hidden: Set[str] = frozenset(),
) -> Replay:
    """The recent faces whose crop is still kept, named by the live model and by the candidate."""
    for what, path in (("candidate", candidate_path), ("live model", live_path)):
        if not Path(path).exists() or not card_path(path).exists():
            hint = "train one with dvc repro" if what == "candidate" else "nothing is live yet"
            raise FaceopsError(f"no {what} at {path} (and its card): {hint}")
    recognitions, faces = kept_faces(store, since, hidden)
    live, candidate = Recogniser.load(live_path), Recogniser.load(candidate_path)
    hidden = set(hidden) | set(live.card.forgotten) | set(candidate.card.forgotten)
    before, after = answers(faces, live), answers(faces, candidate)
    rows = [
        {"face": face_id, "person": answer, "live": answer, "candidate": after[face_id]}
        for face_id, answer in before.items()
        if face_id in after
    ]
    changes = count_changes(rows, hidden)
    return Replay(store.where, since, recognitions, len(rows), live.card.version, candidate.card.version, changes)
