"""Where person data lives: the one list of every place faceops, DVC and git keep anything derived from a person.

`faceops forget` walks exactly this list: each place is cleaned by a named step of the forget journal, or is
named in the receipt as "cannot be rewritten here" with what the user must do. `scan` reads every file of a
project and its record store for a person's name and the hashes of their photos and crops, and says in which
place each finding lies; a finding in no place means a new place that did not join the inventory (the forget
test fails on it). A new feature that writes person data adds its place here, and a forget step for it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faceops.core import dvc
from faceops.core.layout import LAYOUT
from faceops.release.receipts import PREFIX

# How forget handles a place.
CLEANED = "cleaned"  # forget removes what is theirs, then scans to verify
REBUILT = "rebuilt"  # a DVC stage output: the retrain (dvc repro) writes it again without them
KEPT = "kept"  # on purpose: the proof of the forget, or the forget under way
CANNOT = "cannot be rewritten here"  # outside what forget may change: the receipt says what the user must do


@dataclass(frozen=True)
class Place:
    """One place person data lives: files matching `patterns` under a root ("project", "records" or neither)."""

    name: str
    root: str  # "project": the DVC project; "records": the record store's folder; "": outside both
    patterns: tuple[str, ...]  # fnmatch patterns of paths relative to the root ("*" crosses folders)
    handling: str  # CLEANED, REBUILT, KEPT or CANNOT
    how: str  # what forget does there, or what the user must do

    def holds(self, root: str, relpath: str) -> bool:
        return root == self.root and any(fnmatch.fnmatchcase(relpath, pattern) for pattern in self.patterns)


def _folder(name: str) -> str:
    """The folder of the LAYOUT place `name` ("metrics" for eval_metrics)."""
    return str(Path(getattr(LAYOUT, name)).parent)


_STAGE_OUTPUTS = (
    LAYOUT.manifest,
    LAYOUT.split,
    LAYOUT.faces_report,
    LAYOUT.data_validation,
    LAYOUT.per_person,
    LAYOUT.gate,
    f"{_folder('eval_metrics')}/*.json",
    f"{_folder('history_plot')}/*",
)

INVENTORY: tuple[Place, ...] = (
    Place(
        "photos", "project", (f"{LAYOUT.raw}/{{person}}/*",), CLEANED, "their folder removed; dvc add lists the rest"
    ),
    Place("rejections", "project", (f"{LAYOUT.negatives}/{{person}}/*",), CLEANED, "their folder removed"),
    Place("face crops", "project", (f"{LAYOUT.faces}/{{person}}/*",), CLEANED, "their folder removed"),
    Place("DVC pointers and lock", "project", (LAYOUT.raw_dvc, dvc.LOCK), REBUILT, "dvc add and dvc repro rewrite"),
    Place("stage outputs", "project", _STAGE_OUTPUTS, REBUILT, "dvc repro writes them again without them"),
    Place(
        "models and cards",
        "project",
        (f"{_folder('model')}/*",),
        REBUILT,
        "the cards mark them forgotten at once (answered unknown, reference zeroed); the next promoted model "
        "never knew them",
    ),
    Place(
        "reports",
        "project",
        (LAYOUT.report, LAYOUT.retrain_report, LAYOUT.unknowns, LAYOUT.unknowns_groups),
        CLEANED,
        "removed when naming them",
    ),
    Place("crop cache", "project", (f"{LAYOUT.crop_cache}/*",), CLEANED, "their detection results and crops removed"),
    Place("feature cache", "project", (f"{LAYOUT.feature_cache}/*",), CLEANED, "their features removed"),
    Place("local DVC cache", "project", (f"{dvc.CACHE_FILES}/*",), CLEANED, "their objects removed by hash"),
    Place("DVC run cache", "project", (f"{dvc.RUN_CACHE}/*",), CLEANED, "run records of outputs naming them removed"),
    Place("DVC state", "project", (f"{dvc.STATE}/*",), CLEANED, "DVC's indexes and temporary copies removed (rebuilt)"),
    Place("forget journal", "project", (f"{LAYOUT.forget_journals}/*",), KEPT, "removed once the receipt is written"),
    Place(
        "receipts",
        "project",
        (f"{LAYOUT.receipts}/{PREFIX}{{person}}-*",),
        KEPT,
        "the proof: their name and hashes only",
    ),
    Place(
        "git history",
        "project",
        (".git/*",),
        CANNOT,
        f"earlier commits name their hashes ({LAYOUT.raw_dvc}, {dvc.LOCK}) and commit messages may name them; "
        "to erase: git filter-repo (or BFG) on every clone, then force-push; dvc exp remove --all for experiments",
    ),
    Place("pending crops", "records", (f"{LAYOUT.pending}/*",), CLEANED, "crops and records naming them removed"),
    Place("feedback", "records", (f"{LAYOUT.feedback}/*",), CLEANED, "verdicts naming them and their crops removed"),
    Place("recognition log", "records", (f"{LAYOUT.recognition_log}*",), CLEANED, "lines naming them removed"),
    Place(
        "default DVC remote",
        "remote",  # scanned file by file when it is a folder on this machine
        ("*",),
        CLEANED,
        "their objects removed by hash (with --no-remote: left, the receipt says so; then run forget again "
        "without --no-remote)",
    ),
    Place(
        "other DVC remotes",
        "",
        (),
        CANNOT,
        "not looked at: make each the default (dvc remote default NAME) and run faceops forget again",
    ),
    Place(
        "copies outside the project",
        "",
        (),
        CANNOT,
        "Jenkins artefacts, exported models, backups, other clones, a running service's model copies in its "
        "temporary folder (restart it) and its console output (access log lines name people enrolled through "
        "POST /people/NAME/photos): delete them where they are",
    ),
)


def places_for(person: str, committed: Iterable[str] = ()) -> tuple[Place, ...]:
    """The inventory with `person` put into the patterns that name their folders; then the files git tracks
    (`committed`, relative to the project) that no other place holds: code, docs, params that may name them."""
    safe = glob_escape(person)
    places = tuple(
        Place(p.name, p.root, tuple(pat.replace("{person}", safe) for pat in p.patterns), p.handling, p.how)
        for p in INVENTORY
    )
    how = "committed files that name them (code, docs, settings): edit them by hand and commit; history as above"
    return (*places, Place("committed files", "project", tuple(glob_escape(path) for path in committed), CANNOT, how))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def place_of(places: Iterable[Place], root: str, relpath: str) -> Place | None:
    return next((place for place in places if place.holds(root, relpath)), None)


@dataclass(frozen=True)
class Needles:
    """What marks a file as theirs: their name (as written in text and JSON), their files' hashes."""

    name: str
    content_hashes: frozenset[str]  # sha256 and md5 of their photos and crops: a file with this content is theirs
    quoted_hashes: frozenset[str]  # hashes that, written inside a file, point at something of theirs

    def texts(self) -> list[bytes]:
        spelled = {self.name, json.dumps(self.name)[1:-1]}
        return sorted({text.encode() for text in spelled} | {h.encode() for h in self.quoted_hashes})


@dataclass(frozen=True)
class Hit:
    root: str  # "project" or "records"
    path: str  # relative to that root
    why: str  # "names them", "a copy of their file", "names the hash ..."
    place: Place | None  # None: outside the inventory


def scan(roots: dict[str, Path], needles: Needles, places: Iterable[Place]) -> tuple[list[Hit], int]:
    """Every file under each root that holds something of theirs, with the place it lies in; and how many
    files were read. A root may lie inside another (the record store in the project): each file counts once,
    named from its most specific root, and lies in a place of any root that holds it."""
    places = tuple(places)
    texts = needles.texts()
    resolved = {name: root.resolve() for name, root in roots.items() if root.is_dir()}
    hits, count = [], 0
    for root_name, relpath, path in _files(resolved):
        count += 1
        why = _why(path, texts, needles)
        if why:
            names = [
                (name, path.relative_to(root).as_posix())
                for name, root in resolved.items()
                if path.is_relative_to(root)
            ]
            place = next((found for name, rel in names if (found := place_of(places, name, rel))), None)
            hits.append(Hit(root_name, relpath, why, place))
    return hits, count


def _files(resolved: dict[str, Path]) -> Iterator[tuple[str, str, Path]]:
    seen: set[Path] = set()
    for name, root in sorted(resolved.items(), key=lambda item: -len(item[1].parts)):  # most specific first
        for folder, _, files in os.walk(root):
            for file in files:
                path = Path(folder) / file
                if path in seen or path.is_symlink() or not path.is_file():
                    continue
                seen.add(path)
                yield name, path.relative_to(root).as_posix(), path


def _why(path: Path, texts: list[bytes], needles: Needles) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    digests = {hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()}
    if digests & needles.content_hashes:
        return "a copy of their photo or crop"
    for text in _readable(path, data):
        for needle in texts:
            if needle in text:
                return (
                    "names them"
                    if needle.decode() in (needles.name, json.dumps(needles.name)[1:-1])
                    else (f"names the hash {needle.decode()}")
                )
    return ""


def _readable(path: Path, data: bytes) -> Iterator[bytes]:
    """The file's bytes, and for a NumPy archive the strings inside (stored as UTF-32, maybe compressed)."""
    yield data
    if path.suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    raw = archive.read(member)
                    yield raw
                    yield raw.decode("utf-32-le", errors="ignore").encode()
        except (zipfile.BadZipFile, OSError):
            return
