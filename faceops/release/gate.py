"""reports/gate.json as a typed record: the release gate's verdict on the last candidate.

The evaluate stage writes it (promoted or not, every check live against candidate, the paired table); retrain,
the report, forget and `faceops promote` read it back, each field checked: a bad file is one line naming the file
and the field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from faceops.core.atomic import write_json
from faceops.core.contracts import MISSING_FILE, Fields, read_fields
from faceops.release.paired import AnswerChanges, PairedTable
from faceops.release.promote import GateCheck, GateResult

_PAIRED_COUNTS = ("both_right", "only_live", "only_candidate", "both_wrong")


@dataclass(frozen=True)
class GateVerdict:
    promoted: bool  # the candidate is the live model now
    checks: tuple[GateCheck, ...]
    notes: tuple[str, ...] = ()  # why a check could not judge
    paired: PairedTable | None = None  # None: no live model to pair the candidate with
    promotion_failed: str | None = None  # passed, but the copy over the live model failed (a full disk)
    changes: AnswerChanges | None = None  # the faces whose answer changes; None: no live model, or an older file

    @classmethod
    def of(cls, result: GateResult, paired: PairedTable | None, changes: AnswerChanges | None = None) -> GateVerdict:
        return cls(result.passed, result.checks, tuple(result.notes()), paired, changes=changes)

    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        data = {
            "promoted": self.promoted,
            "checks": [dataclasses.asdict(check) for check in self.checks],
            "notes": list(self.notes),
            "paired": self.paired.to_dict() if self.paired else None,
        }
        if self.changes is not None:
            data["changes"] = self.changes.to_dict()
        return data | ({"promotion_failed": self.promotion_failed} if self.promotion_failed is not None else {})

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> GateVerdict | None:
        """The verdict in `path`; None only when it does not exist and `missing` is None."""
        fields = read_fields(path, missing)
        if fields is None:
            return None
        paired = fields.obj("paired", required=False, nullable=True)
        changes = fields.obj("changes", required=False, nullable=True)
        return cls(
            promoted=fields.boolean("promoted"),
            checks=tuple(_check(check) for check in fields.objects("checks")),
            notes=fields.texts("notes", required=False) or (),
            paired=None if paired is None else _paired(paired),
            promotion_failed=fields.text("promotion_failed", required=False),
            changes=None if changes is None else _changes(changes),
        )


def _check(fields: Fields) -> GateCheck:
    return GateCheck(
        fields.text("name"),
        fields.number("live", nullable=True),
        fields.number("candidate", nullable=True),
        fields.text("limit"),
        fields.boolean("passed"),
        fields.text("note", required=False) or "",
    )


def _paired(fields: Fields) -> PairedTable:
    counts = [fields.integer(name) for name in _PAIRED_COUNTS]
    return PairedTable(*counts, fields.number("p_value"), fields.number("significance"))


def _changes(fields: Fields) -> AnswerChanges:
    people = {}
    for person in fields.mapping("people"):
        outcomes = fields.obj("people").obj(person)
        people[person] = {outcome: outcomes.integer(outcome) for outcome in outcomes.data}
    examples = tuple(
        {
            "face": example.text("face"),
            "person": example.text("person", nullable=True),
            "live": example.text("live"),
            "candidate": example.text("candidate"),
        }
        for example in fields.objects("examples", required=False)
    )
    return AnswerChanges(people, examples)
