"""metrics/faces.json as a typed record: how many photos the faces stage read, kept and rejected, of how many people.

The validate stage reads it back (the rejection share is one of its checks); a bad file is one line naming the file
and the field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from faceops.core.atomic import write_json
from faceops.core.contracts import MISSING_FILE, Fields, read_fields


@dataclass(frozen=True)
class FaceCounts:
    photos: int  # every photo read
    faces: int  # crops kept
    rejected: int  # photos with no usable face
    people: int  # people with a crop kept

    @classmethod
    def from_fields(cls, fields: Fields) -> FaceCounts:
        return cls(*(fields.integer(field.name) for field in dataclasses.fields(cls)))

    @classmethod
    def read(cls, path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> FaceCounts | None:
        fields = read_fields(path, missing)
        return None if fields is None else cls.from_fields(fields)

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, dataclasses.asdict(self))
