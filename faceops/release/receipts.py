"""Forget receipts (receipts/forget-NAME-STAMP.json and .txt) as a typed record: who was forgotten, what was
removed, what stays and what the second search checked.

`faceops forget` (faceops.people.forget) writes them; the model registry reads them back, so that a version trained
on someone forgotten since is never made live again. The contract lives here, in the lowest layer that reads it,
so both can use it. Read back, each field is checked: a bad receipt is one line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceops.core.atomic import write_json, write_text
from faceops.core.contracts import Fields, read_fields
from faceops.core.layout import LAYOUT

PREFIX = "forget-"  # receipts/forget-NAME-STAMP.json


@dataclass(frozen=True)
class Found:
    """One thing of the person's: where it is, its key there, and what it is."""

    place: str  # "dataset/raw", "local DVC cache", "DVC remote 'storage'", "crop cache", ...
    key: str  # a DVC md5 (".dir" for listings), a sha256, or a path
    what: str  # "photo Ada/0001.jpg", "listing of dataset/raw", "model card", ...


@dataclass(frozen=True)
class Receipt:
    person: str
    started: str
    finished: str
    removed: list[Found]
    remaining: list[str]
    retrained: str  # "promoted", "refused by the release gate", "failed: ...", "not run (--no-retrain)"
    verified: bool  # what `checked` says was searched found nothing of theirs but `remaining`
    files: tuple[str, ...] = ()
    checked: list[str] = field(default_factory=list)  # what the verification read: the only thing it vouches for

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        lines = [
            f"faceops forget receipt: {self.person}",
            f"started {self.started}, finished {self.finished}",
            f"retrain without them: {self.retrained}",
            f"verified by a second search: {'yes, nothing of them is left' if self.verified else 'NO'}, "
            "in what it checked:",
            *[f"  {line}" for line in self.checked],
            "",
            f"removed ({len(self.removed)}):",
        ]
        lines += [f"  {item.place}\t{item.key}\t{item.what}" for item in self.removed]
        lines += ["", f"remains ({len(self.remaining)}):"] + [f"  {reason}" for reason in self.remaining]
        return "\n".join(lines) + "\n"

    def write(self, root: str | os.PathLike[str]) -> Receipt:
        """Write the receipt's JSON and text under `root`; the receipt, with `files` naming them. The names come from
        the person and the start, so a rerun of a finished journal writes the same files."""
        root = Path(root)
        stamp = self.started.replace(":", "").replace("-", "")
        base = root / LAYOUT.receipts / f"{PREFIX}{self.person}-{stamp}"
        json_file, text_file = base.with_suffix(".json"), base.with_suffix(".txt")
        receipt = dataclasses.replace(self, files=(str(json_file.relative_to(root)), str(text_file.relative_to(root))))
        write_json(json_file, receipt.to_dict())
        write_text(text_file, receipt.text())
        return receipt

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Receipt:
        fields = read_fields(path)
        return cls(
            person=fields.text("person"),
            started=fields.text("started"),
            finished=fields.text("finished"),
            removed=[_found(item) for item in fields.objects("removed")],
            remaining=list(fields.texts("remaining")),
            retrained=fields.text("retrained"),
            verified=fields.boolean("verified"),
            files=fields.texts("files", required=False) or (),
            checked=list(fields.texts("checked", required=False) or ()),
        )


def _found(fields: Fields) -> Found:
    return Found(fields.text("place"), fields.text("key"), fields.text("what"))


def receipt_files(root: str | os.PathLike[str], person: str | None = None) -> list[Path]:
    """The receipts' JSON files under the project `root` (of `person` only, when given), oldest first for a person."""
    pattern = f"{PREFIX}{person}-*.json" if person is not None else f"{PREFIX}*.json"
    return sorted((Path(root) / LAYOUT.receipts).glob(pattern))
