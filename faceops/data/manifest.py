"""The face manifest (data/faces.csv) and the split (data/split.csv) as typed rows: the contract between the
faces stage that writes them and the stages that read them.

Every row is checked as it is read, so a damaged file stops the stage reading it with one line that names the
file, the line and the column, not with a stack trace from deep inside pandas or a face silently lost. The
readers give the table pandas code computes on; `read_rows` gives the typed rows themselves.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, TypeVar

from faceops.core.atomic import write_csv
from faceops.core.errors import FaceopsError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Face:
    """One face crop of data/faces.csv: the crop, whose face it is, and the photo and box it was cut from."""

    path: str  # the crop, data/faces/<person>/<name>.png
    person: str
    source: str  # the raw photo
    box: str  # the face box in the photo, "x, y, width, height"
    sha256: str  # of the crop's PNG
    width: int  # of the crop, pixels
    height: int


SUBSETS = ("train", "test", "stranger")


@dataclass(frozen=True)
class SplitFace(Face):
    """One face of data/split.csv: a face of the manifest and the side of the split it is on."""

    subset: str  # one of SUBSETS


Row = TypeVar("Row", bound=Face)

MANIFEST_COLUMNS = tuple(column.name for column in fields(Face))
SPLIT_COLUMNS = tuple(column.name for column in fields(SplitFace))
_NAMES = {Face: ("manifest", "faces"), SplitFace: ("split", "split")}  # what the file is, the stage that writes it


def write_manifest(path: str | os.PathLike[str], faces: Iterable[Face]) -> None:
    """Write the manifest atomically, one row per face, in the order given."""
    write_csv(path, MANIFEST_COLUMNS, (asdict(face) for face in faces))


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The manifest as a table with the columns of `Face`, every row checked."""
    return table(read_rows(path, Face), Face)


def read_split(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The split as a table with the columns of `SplitFace`, every row checked."""
    return table(read_rows(path, SplitFace), SplitFace)


def table(rows: Sequence[Face], row_type: type[Face] = Face) -> pd.DataFrame:
    """Rows as a pandas table, a column per field of `row_type` (the columns are there when no row is)."""
    import pandas as pd

    names = [column.name for column in fields(row_type)]
    return pd.DataFrame({name: [getattr(row, name) for row in rows] for name in names}, columns=names)


def read_rows(path: str | os.PathLike[str], row_type: type[Row]) -> list[Row]:
    """Every row of a manifest or split file as `row_type`; the first fault is a FaceopsError of one line.

    Columns beyond the row type's are ignored, as pandas code never looked at them."""
    noun, stage = _NAMES[row_type]
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:  # a BOM (a spreadsheet's) is no name
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if header is None:
                raise FaceopsError(f"{path}: not a readable CSV {noun} (the file is empty)")
            missing = [column.name for column in fields(row_type) if column.name not in header]
            if missing:
                raise FaceopsError(f"{path}: {noun} lacks the column(s) {', '.join(missing)} (line 1, the header)")
            return [_row(row_type, record, len(header), f"{path} line {reader.line_num}") for record in reader]
    except FileNotFoundError:
        raise FaceopsError(f"{path}: {noun} not found (run the `{stage}` stage first: dvc repro)") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FaceopsError(f"{path}: not a readable CSV {noun} ({exc})") from None


def _row(row_type: type[Row], record: dict, width: int, where: str) -> Row:
    """One record of csv.DictReader as `row_type`, or a FaceopsError naming `where` and the column at fault."""
    if None in record:
        raise FaceopsError(f"{where}: {width + len(record[None])} fields, but the header names {width} columns")
    values: dict[str, str | int] = {}
    for column in fields(row_type):
        text = record[column.name]
        if text is None:
            raise FaceopsError(f"{where}: column {column.name!r} is missing (the line has too few fields)")
        if text == "":
            raise FaceopsError(f"{where}: column {column.name!r} is empty")
        values[column.name] = _value(column.name, column.type, text, where)
    return row_type(**values)


def _value(name: str, kind: object, text: str, where: str) -> str | int:
    """A cell as its field's type: a whole number of pixels for an int field, one of SUBSETS for the subset."""
    if kind in ("int", int):
        if not (text.isascii() and text.isdigit()) or int(text) == 0:
            raise FaceopsError(f"{where}: column {name!r} is {text!r}, not a whole number of pixels")
        return int(text)
    if name == "subset" and text not in SUBSETS:
        raise FaceopsError(f"{where}: column 'subset' is {text!r}, not one of {', '.join(SUBSETS)}")
    return text
