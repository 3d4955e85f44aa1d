"""One person-name type for every door: CLI options, imported folder names, REST paths, feedback, forget.

A person's name becomes a folder, a label in the model, a CSV cell, a line in a receipt and text on a
web page, so every door checks it the same way here: one NFC spelling, visible characters only, usable
as a single folder name, never a pattern. Two names that differ only by Unicode form or case are one person.
"""

from __future__ import annotations

import argparse
import os
import unicodedata
from collections.abc import Iterable
from typing import NewType

from faceops.core.errors import UsageError

MAX_NAME_LENGTH = 100
# A folder or file name holds at most 255 bytes; a name's longest use is a forget receipt's temporary file
# (".forget-NAME-STAMP.xxxxxxxx.json", 39 bytes more): 200 bytes leave room. 100 CJK characters are 300.
MAX_NAME_BYTES = 200
GLOB_CHARACTERS = "*?[]"
# Unicode categories a name may not hold: controls (C0, C1, NUL), format characters (bidi overrides,
# zero-width joiners), surrogates, private use, unassigned code points, and line or paragraph separators.
REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
RULES = (
    f"a person name is 1 to {MAX_NAME_LENGTH} visible characters (at most {MAX_NAME_BYTES} bytes in UTF-8), without "
    f"path separators, glob characters ({GLOB_CHARACTERS}), a leading dot or surrounding spaces"
)


class BadNameError(UsageError):
    """A name no door accepts: the CLI exits 2 with it, the service answers 400."""


# A name `person_name` returned: NFC and checked; what folders, labels and look-ups take.
PersonName = NewType("PersonName", str)


def person_name(text: object, where: str = "person name") -> PersonName:
    """The checked NFC form of `text`, or BadNameError naming the rule it breaks."""
    if not isinstance(text, str):
        raise BadNameError(f"{where}: a person name must be text, got {type(text).__name__}")
    name = unicodedata.normalize("NFC", text)
    if not name.strip():
        raise BadNameError(f"{where}: person name is empty ({RULES})")
    if len(name) > MAX_NAME_LENGTH:
        raise BadNameError(f"{where}: person name {name[:20]!r}… has {len(name)} characters, at most {MAX_NAME_LENGTH}")
    for char in name:
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            raise BadNameError(
                f"{where}: person name {name!r} contains {REFUSED_CATEGORIES[category]} (U+{ord(char):04X}); "
                "names are visible characters only"
            )
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:  # before: accepted, then a traceback (File name too long) and an empty folder left
        raise BadNameError(
            f"{where}: person name {name[:20]!r}… is {size} bytes in UTF-8, at most {MAX_NAME_BYTES} "
            "(it names folders and files)"
        )
    if "/" in name or "\\" in name or os.sep in name:
        raise BadNameError(f"{where}: person name {name!r} contains a path separator")
    if any(char in GLOB_CHARACTERS for char in name):
        raise BadNameError(
            f"{where}: person name {name!r} contains a glob character ({GLOB_CHARACTERS}); give one name"
        )
    if name.startswith("."):
        raise BadNameError(f"{where}: person name {name!r} is hidden (starts with '.')")
    if name != name.strip():
        raise BadNameError(f"{where}: person name {name!r} starts or ends with a space")
    return PersonName(name)


def name_key(name: str) -> str:
    """What makes two spellings one person: the NFC form, case-folded (and NFC again, as folding can decompose)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def same_person(name: str, existing: Iterable[str]) -> str | None:
    """The existing spelling of the person `name` names, when it is spelt differently; None otherwise."""
    key = name_key(name)
    for other in sorted(existing):
        if other != name and name_key(other) == key:
            return other
    return None


def refuse_second_spelling(name: str, existing: Iterable[str], where: str = "person name") -> None:
    """BadNameError when `name` is another spelling (Unicode form, case) of a person already there."""
    other = same_person(name, existing)
    if other is not None:
        raise BadNameError(
            f"{where}: {name!r} is another spelling of the existing person {other!r} "
            f"(names equal after Unicode normalisation and case folding are one person); use {other!r}"
        )


def cli_person_name(text: str) -> PersonName:
    """argparse type for --person: a bad name is a usage error (exit 2) naming the rule."""
    try:
        return person_name(text, "--person")
    except BadNameError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--person: ")) from None
