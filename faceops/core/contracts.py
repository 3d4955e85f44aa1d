"""Reading the JSON files faceops writes as typed records: each field checked as it is taken.

Why: a file the pipeline wrote by hand-edit, by an older faceops or half by a crash used to surface as a KeyError
or a TypeError far from the file. Each file's frozen dataclass (its contract, beside its writer) reads through
`Fields`, so a bad file is one line naming the file and the field: `reports/gate.json: field 'promoted' is missing`,
`metrics/eval.json: 'accuracy' is 'abc', expected a number`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from faceops.core.atomic import read_json
from faceops.core.errors import FaceopsError

MISSING_FILE = "not found; run `dvc repro` first"


def _short(value: Any) -> str:  # noqa: ANN401 - any JSON value
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    return isinstance(value, int) and not isinstance(value, bool)


class Fields:
    """A JSON object from `where` (a file, or a place inside one), whose fields are checked as they are taken.

    Each getter names what it expects; `required=False` gives None for a field the file does not have (older
    files), `nullable=True` lets the file say null. Fields the contract does not know are ignored.
    """

    def __init__(self, data: Any, where: str, prefix: str = "") -> None:  # noqa: ANN401 - any JSON value
        if not isinstance(data, Mapping):
            if prefix:
                raise FaceopsError(f"{where}: {prefix!r} is {_short(data)}, expected an object")
            raise FaceopsError(f"{where}: {_short(data)} is not a JSON object")
        self.data = data
        self.where = where
        self.prefix = prefix

    def _name(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _take(self, name: str, test: Callable[[Any], bool], expected: str, required: bool, nullable: bool) -> Any:  # noqa: ANN401 - the checked value
        if name not in self.data:
            if required:
                raise FaceopsError(f"{self.where}: field {self._name(name)!r} is missing")
            return None
        value = self.data[name]
        if (value is None and nullable) or (value is not None and test(value)):
            return value
        raise FaceopsError(f"{self.where}: {self._name(name)!r} is {_short(value)}, expected {expected}")

    def number(self, name: str, required: bool = True, nullable: bool = False) -> float | None:
        return self._take(name, _is_number, "a number", required, nullable)

    def integer(self, name: str, required: bool = True, nullable: bool = False) -> int | None:
        return self._take(name, _is_integer, "a whole number", required, nullable)

    def boolean(self, name: str, required: bool = True) -> bool | None:
        return self._take(name, lambda value: isinstance(value, bool), "true or false", required, False)

    def text(self, name: str, required: bool = True, nullable: bool = False) -> str | None:
        return self._take(name, lambda value: isinstance(value, str), "a text", required, nullable)

    def texts(self, name: str, required: bool = True) -> tuple[str, ...] | None:
        value = self._take(name, _list_of(str), "a list of texts", required, False)
        return None if value is None else tuple(value)

    def numbers(self, name: str, required: bool = True) -> tuple[float, ...] | None:
        value = self._take(name, _is_numbers, "a list of numbers", required, False)
        return None if value is None else tuple(value)

    def mapping(self, name: str, required: bool = True, nullable: bool = False) -> dict | None:
        value = self._take(name, lambda value: isinstance(value, Mapping), "an object", required, nullable)
        return None if value is None else dict(value)

    def obj(self, name: str, required: bool = True, nullable: bool = False) -> Fields | None:
        """A nested object, itself read field by field."""
        value = self.mapping(name, required, nullable)
        return None if value is None else Fields(value, self.where, self._name(name))

    def objects(self, name: str, required: bool = True) -> list[Fields]:
        """A list of objects, each read field by field ('checks[2].passed' in messages); absent: []."""
        value = self._take(name, lambda value: isinstance(value, list), "a list", required, False)
        return [Fields(item, self.where, f"{self._name(name)}[{index}]") for index, item in enumerate(value or [])]


def _is_numbers(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    return isinstance(value, list) and all(map(_is_number, value))


def _list_of(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(isinstance(item, kind) for item in value)


def read_fields(path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> Fields | None:
    """The JSON object in `path`; a missing file is an error saying `missing`, or None when `missing` is None."""
    data = read_json(path, missing)
    return None if data is None else Fields(data, str(path))


def parse_fields(text: str, where: str) -> Fields:
    """The JSON object in `text` (a file as git shows it at some commit), `where` naming it in messages."""
    try:
        return Fields(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise FaceopsError(f"{where}: not valid JSON ({exc})") from None
