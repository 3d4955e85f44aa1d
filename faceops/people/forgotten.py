"""Who is being forgotten, or was: what every door asks before it names or re-creates a person.

A forget under way has a journal in .faceops/forget/ (faceops.people.forget writes it before it removes
anything); a finished one left a receipt in receipts/. From the moment the journal exists the service no
longer names them, `faceops people` and GET /model do not list them as known, and `feedback accept` and
`enrol` refuse to re-create them. After the forget, re-creating them takes a deliberate --re-enrol.
Light on purpose: the service asks on every request.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.release.receipts import PREFIX

UNKNOWN = "unknown"


def journal_path(root: str | os.PathLike[str], person: str) -> Path:
    return LAYOUT.at(root, "forget_journals") / f"{person}.json"


def unfinished(root: str | os.PathLike[str] = ".") -> set[str]:
    """People whose forget started and has not written its receipt yet."""
    folder = LAYOUT.at(root, "forget_journals")
    names = os.listdir(folder) if folder.is_dir() else []
    return {name[: -len(".json")] for name in names if name.endswith(".json") and not name.startswith(".")}


def receipted(root: str | os.PathLike[str] = ".") -> set[str]:
    """People with a forget receipt (the receipt's name: forget-NAME-STAMP.json)."""
    folder = LAYOUT.at(root, "receipts")
    names = os.listdir(folder) if folder.is_dir() else []
    receipts = [name for name in names if name.startswith(PREFIX) and name.endswith(".json")]
    return {name[len(PREFIX) :].rsplit("-", 1)[0] for name in receipts}


def forgotten(root: str | os.PathLike[str] = ".", raw: str | os.PathLike[str] = LAYOUT.raw) -> set[str]:
    """People no door may re-create: a forget under way, or done and not deliberately re-enrolled since (a
    re-enrolment is the only way a folder of theirs comes back)."""
    raw = Path(raw)
    return unfinished(root) | {name for name in receipted(root) if not (raw / name).is_dir()}


def refuse_forgotten(
    person: str,
    root: str | os.PathLike[str] = ".",
    raw: str | os.PathLike[str] = LAYOUT.raw,
    option: str = "--re-enrol",
    re_enrol: bool = False,
) -> None:
    """FaceopsError if `person` is being forgotten, or was and `re_enrol` (the deliberate `option`) is not given."""
    if person in unfinished(root):
        raise FaceopsError(
            f"{person!r} is being forgotten (an unfinished faceops forget: {journal_path(root, person)}); "
            f"finish it with faceops forget --person {person} --yes; nothing was saved"
        )
    if not re_enrol and person in forgotten(root, raw):
        raise FaceopsError(
            f"{person!r} was forgotten (see {LAYOUT.receipts}/{PREFIX}{person}-*.txt); nothing was saved; "
            f"to enrol them again on purpose, pass {option}"
        )


def mask(answers: list[dict], hidden: set[str]) -> list[dict]:
    """Service answers with every face named as a hidden person answered "unknown"."""
    return [{**answer, "name": UNKNOWN} if answer.get("name") in hidden else answer for answer in answers]


def hide(answers: list[dict], records: list, hidden: set[str]) -> tuple[list[dict], list]:
    """A /predict answer and its FaceRecords with every face named as, or closest to, a hidden person made
    "unknown" in both: the client is not told the name, and the pending store and the log do not keep it."""
    if not hidden:
        return answers, records
    records = [
        dataclasses.replace(record, name=UNKNOWN, label=UNKNOWN) if {record.name, record.label} & hidden else record
        for record in records
    ]
    return mask(answers, hidden), records
