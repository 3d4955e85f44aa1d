"""`faceops people`: who is in the data set, what the faces stage kept of them and what the live model knows."""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from faceops.core.atomic import read_json
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.data.dataset import list_raw_files
from faceops.model.card import ModelCard
from faceops.people.forgotten import unfinished


@dataclass(frozen=True)
class Person:
    name: str
    photos: int  # in dataset/raw
    faces: int  # kept by the faces stage (data/faces.csv)
    known: bool  # the live model names them
    test_recall: float | None  # from reports/per_person.csv (None: not in the test part)
    newest_photo: str  # date of the newest photo file, YYYY-MM-DD
    forget_unfinished: bool = False  # a `faceops forget` of them started and has not finished
    needs_photos: int = 0  # left out of the model by validation until they have this many more photos

    def to_dict(self) -> dict:
        return asdict(self)


def list_people(
    raw: str | os.PathLike[str] = LAYOUT.raw,
    manifest: str | os.PathLike[str] = LAYOUT.manifest,
    model: str | os.PathLike[str] = LAYOUT.card,
    per_person: str | os.PathLike[str] = LAYOUT.per_person,
    project: str | os.PathLike[str] = ".",
    validation: str | os.PathLike[str] = LAYOUT.data_validation,
) -> list[Person]:
    """Everyone with a folder in `raw`, a label in the live model or a forget under way, by name; someone
    forgotten or being forgotten is never known."""
    files = list_raw_files(raw) if Path(raw).is_dir() else []
    photos = Counter(file.person for file in files)
    newest: dict[str, float] = {}
    for file in files:
        newest[file.person] = max(newest.get(file.person, 0.0), file.path.stat().st_mtime)
    faces: Counter = Counter()
    if Path(manifest).exists():
        with open(manifest, newline="") as handle:
            faces = Counter(row["person"] for row in csv.DictReader(handle))
    labels: tuple[str, ...] = ()
    if Path(model).exists():
        try:
            card = ModelCard.read(model)
            labels = tuple(label for label in card.labels if label not in card.forgotten)
        except FaceopsError:
            labels = ()
    forgetting = unfinished(project)
    labels = tuple(label for label in labels if label not in forgetting)
    recall: dict[str, float] = {}
    if Path(per_person).exists():
        with open(per_person, newline="") as handle:
            recall = {row["person"]: float(row["recall"]) for row in csv.DictReader(handle)}
    left_out = (read_json(validation, missing=None) or {}).get("left_out") or {}
    names = sorted(set(photos) | set(labels) | forgetting)
    return [
        Person(
            name=name,
            photos=photos[name],
            faces=faces[name],
            known=name in labels,
            test_recall=recall.get(name),
            newest_photo=dt.date.fromtimestamp(newest[name]).isoformat() if name in newest else "",
            forget_unfinished=name in forgetting,
            needs_photos=int(left_out.get(name, 0)) if name not in labels else 0,
        )
        for name in names
    ]


def format_people(people: list[Person]) -> str:
    lines = ["| person | photos | faces | live model | test recall | newest photo |", "|---|---|---|---|---|---|"]
    for person in people:
        recall = f"{person.test_recall:.0%}" if person.test_recall is not None else "-"
        known = "knows" if person.known else "does not know"
        known = f"forget unfinished: faceops forget --person {person.name} --yes" if person.forget_unfinished else known
        if person.needs_photos:
            known += f" (left out: needs {person.needs_photos} more photos)"
        lines.append(
            f"| {person.name} | {person.photos} | {person.faces} | {known} | {recall} | {person.newest_photo or '-'} |"
        )
    lines.append(f"{len(people)} people; {sum(p.known for p in people)} known to the live model")
    return "\n".join(lines)
