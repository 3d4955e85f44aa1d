"""`faceops forget`: remove one person from every place faceops and DVC keep them, and write a receipt.

A person lives on in more places than their photo folder: the DVC cache and remote (their photos,
their face crops, the directory listings and manifests that name them, models trained on them, DVC's
run records), the faces stage's crop cache, the feature cache and the live model. `find` looks in
each place by content hash, for every version that git history (experiments included) or the
workspace names; the record store keeps the service's crops, verdicts and log lines naming them.
faceops.people.inventory lists every such place; `forget` walks it as a journal: the plan is written first
(.faceops/forget/NAME.json), each step is idempotent and journaled as done, the receipt is written last,
so a forget killed at any point is finished by running it again.

An object another person's data also uses (the same photo filed twice) is never removed; nothing is
ever removed by a blanket `dvc gc`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faceops.core import dvc, tools
from faceops.core.atomic import read_json, write_json
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.names import person_name
from faceops.data.faces import CropCache
from faceops.model.card import ModelCard
from faceops.model.features import forget_features
from faceops.people.forgotten import journal_path
from faceops.people.inventory import CLEANED, KEPT, Hit, Needles, glob_escape, places_for, scan
from faceops.records.drift import RECOGNITIONS, UNKNOWN
from faceops.records.store import FolderStore, RecordStore, open_store
from faceops.release.gate import GateVerdict
from faceops.release.receipts import Found, Receipt, receipt_files

log = logging.getLogger(__name__)

RAW, FACES = LAYOUT.raw, LAYOUT.faces
PERSON_FOLDERS = (RAW, FACES)  # DVC directories with one folder per person
NAMED_TABLES = (LAYOUT.manifest, LAYOUT.split)  # cached tables with one row per face and a `person` column
MODEL_CARDS = (LAYOUT.card, LAYOUT.candidate_card)  # each beside its .keras
MODEL_WEIGHTS = (LAYOUT.model, LAYOUT.candidate)
# Written by faceops report / retrain / unknowns, no stage (the sheet of unknown faces names the closest people).
NAMING_REPORTS = (LAYOUT.report, LAYOUT.retrain_report, LAYOUT.unknowns, LAYOUT.unknowns_groups)


@dataclass
class Plan:
    """Everything of one person that `forget` would remove, and what it cannot."""

    person: str
    remote: str | None  # the default DVC remote's name, when it is cleaned too
    use_remote: bool = True  # False: --no-remote
    found: list[Found] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)  # what stays, each with its reason
    live_model_knows: bool = False
    # internal: what to act on
    workspace_paths: list[Path] = field(default_factory=list)
    local_oids: set[str] = field(default_factory=set)
    remote_oids: set[str] = field(default_factory=set)
    run_records: list[Path] = field(default_factory=list)
    photo_shas: set[str] = field(default_factory=set)
    crop_shas: set[str] = field(default_factory=set)
    cards: list[Path] = field(default_factory=list)
    content_hashes: set[str] = field(default_factory=set)  # sha256 and md5 of their files, for the final scan
    remote_folder: str = ""  # the default remote, when it is a folder here: the final scan reads it too

    @property
    def empty(self) -> bool:
        return not self.found

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.found:
            counts[item.place] = counts.get(item.place, 0) + 1
        return counts

    def lines(self) -> list[str]:
        lines = [f"forget {self.person}: {len(self.found)} things in {len(self.summary())} places"]
        lines += [f"  {place}: {count}" for place, count in self.summary().items()]
        lines += [f"  stays: {reason}" for reason in self.remaining]
        return lines


# -- looking --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    """One version of a DVC-tracked output, as a .dvc file or dvc.lock names it."""

    path: str  # the output's path in the project
    oid: str  # its md5 ("….dir" for a directory)
    sibling: str = ""  # a model card's .keras of the same version


def _tracked_versions(root: Path) -> set[_Version]:
    """Every version of every output that the workspace or any commit (experiments included) names."""
    texts: dict[str, set[str]] = {LAYOUT.raw_dvc: set(), dvc.LOCK: set()}
    for name in texts:
        if (root / name).exists():
            texts[name].add((root / name).read_text())
    history = tools.git("log", "--all", "--format=%H", "--", *texts, cwd=root, check=False)
    for commit in history.stdout.split() if history.returncode == 0 else []:
        for name in texts:
            shown = tools.git("show", f"{commit}:{name}", cwd=root, check=False)
            if shown.returncode == 0:
                texts[name].add(shown.stdout)
    versions: set[_Version] = set()
    for text in texts[LAYOUT.raw_dvc]:
        for out in (yaml.safe_load(text) or {}).get("outs", []):
            if out.get("md5"):
                versions.add(_Version(str(Path(LAYOUT.raw_dvc).parent / out["path"]), out["md5"]))
    for text in texts[dvc.LOCK]:
        for stage in ((yaml.safe_load(text) or {}).get("stages") or {}).values():
            outs = {out["path"]: out.get("md5", "") for out in stage.get("outs", []) if out.get("md5")}
            for path, oid in outs.items():
                sibling = outs.get(str(Path(path).with_suffix(".keras")), "") if path in MODEL_CARDS else ""
                versions.add(_Version(path, oid, sibling))
    return versions


class _Stores:
    """The local DVC cache and, when it is cleaned too, the default remote: read, test and delete objects."""

    def __init__(self, root: Path, use_remote: bool, journaled: bool = False) -> None:
        self.project = dvc.Project(root)
        self.local = self.project.cache
        self.remote_name: str | None = self.project.default_remote
        self.use_remote = use_remote
        self.remote: dvc.ObjectStore | None = None
        if self.remote_name and use_remote:
            try:
                self.remote = self.project.remote_store(self.remote_name, command="forget")
                if not self.remote.has_root():  # reachable, nothing pushed yet
                    log.info("DVC remote %r has nothing yet", self.remote_name)
            except Exception as exc:  # noqa: BLE001 - every fsspec backend raises its own types
                self.project.close()
                message = " ".join(str(exc).split())[:300] or type(exc).__name__
                then = (
                    "the forget is journaled: fix the remote and run the same command again to finish it"
                    if journaled
                    else "nothing was changed. Fix the remote (faceops doctor says more), or pass --no-remote to "
                    "leave its copies and have the receipt say so"
                )
                raise FaceopsError(
                    f"the DVC remote {self.remote_name!r} is not reachable ({message}); {then}"
                ) from None

    @property
    def remote_place(self) -> str:
        return f"DVC remote {self.remote_name!r}"

    def close(self) -> None:
        self.project.close()

    def read(self, oid: str) -> bytes | None:
        for store in (self.local, self.remote):
            if store is not None and store.exists(oid):
                return store.read(oid)
        return None

    def where(self, oid: str) -> list[str]:
        places = ["local DVC cache"] if self.local.exists(oid) else []
        if self.remote is not None and self.remote.exists(oid):
            places.append(self.remote_place)
        return places


def _person_rows(data: bytes, person: str) -> bool:
    """Whether a cached table (CSV with a `person` column) has a row of `person`."""
    try:
        rows = csv.DictReader(io.StringIO(data.decode()))
        return any(row.get("person") == person for row in rows)
    except (UnicodeDecodeError, csv.Error):
        return False


def _is_theirs(relpath: str, person: str) -> bool:
    """A file of a person-folder listing that is theirs: their photos or crops, or rejections of them."""
    parts = relpath.split("/")
    return parts[0] == person or parts[:2] == [Path(LAYOUT.negatives).name, person]


def _card_labels(data: bytes) -> list[str]:
    try:
        labels = json.loads(data).get("labels", [])
    except (ValueError, AttributeError):
        return []
    return [str(label) for label in labels] if isinstance(labels, list) else []


def find(
    person: str,
    root: str | os.PathLike[str] = ".",
    use_remote: bool = True,
    store: RecordStore | None = None,
    journaled: bool = False,
) -> Plan:
    """Look for everything of `person`: in the workspace, the caches, the DVC cache and the default remote, and
    the record store (default: the project's folder). `journaled`: a forget under way looks (for its receipt)."""
    person = person_name(person, "--person")
    root = Path(root).resolve()
    if not (root / ".dvc").is_dir():
        raise FaceopsError(f"{root}: not a DVC project (no .dvc folder); run faceops forget in your project")
    stores = _Stores(root, use_remote, journaled)
    try:
        plan = _find(person, root, stores)
    finally:
        stores.close()
    _find_records(plan, store or open_store(None, root))
    return plan


def _find(person: str, root: Path, stores: _Stores) -> Plan:
    plan = Plan(person, stores.remote_name if stores.remote is not None else None, stores.use_remote)
    if stores.remote is not None and stores.remote.protocol == "local":
        plan.remote_folder = stores.remote.location
    digests = _find_workspace(plan, root)
    for name in MODEL_CARDS:
        if (root / name).exists() and person in _card_labels((root / name).read_bytes()):
            card = ModelCard.read(root / name)
            if person not in card.forgotten:
                plan.cards.append(root / name)
                plan.found.append(Found(name, card.version, f"a model that names {person} (will answer unknown)"))
            if name == MODEL_CARDS[0]:
                plan.live_model_knows = True
    manifest = root / NAMED_TABLES[0]
    if manifest.exists():
        with open(manifest, newline="") as handle:
            plan.crop_shas |= {row["sha256"] for row in csv.DictReader(handle) if row.get("person") == person}

    # DVC objects: theirs, the listings and tables that name them, and models trained on them; never an
    # object that someone else's data also uses.
    theirs: dict[str, str] = {}
    keep: set[str] = set()
    versions = _tracked_versions(root)
    for version in versions:
        data = stores.read(version.oid)
        if data is None:
            keep.add(version.oid)  # nowhere to look inside: it cannot be theirs as far as we can tell
            continue
        if version.oid.endswith(".dir") and version.path in PERSON_FOLDERS:
            entries = json.loads(data)
            mine = [entry for entry in entries if _is_theirs(entry["relpath"], person)]
            keep |= {entry["md5"] for entry in entries if entry not in mine}
            if mine:
                theirs[version.oid] = f"listing of {version.path} naming {len(mine)} files of theirs"
                for entry in mine:
                    theirs.setdefault(entry["md5"], f"{version.path}/{entry['relpath']}")
        elif version.path in NAMED_TABLES and _person_rows(data, person):
            theirs[version.oid] = f"{version.path} with rows of theirs"
        elif version.path in MODEL_CARDS and person in _card_labels(data):
            theirs[version.oid] = f"{version.path} of a model trained on them"
            if version.sibling:
                theirs[version.sibling] = f"{Path(version.path).with_suffix('.keras')} trained on them"
        elif version.path not in MODEL_WEIGHTS:  # a model's weights go with its card
            keep.add(version.oid)
    for md5, both in digests.items():  # the final scan looks for their files' content, not for shared content
        plan.content_hashes |= both if md5 not in keep else set()
    for oid, what in sorted(theirs.items()):
        if oid in keep:
            continue
        for place in stores.where(oid):
            plan.found.append(Found(place, oid, what))
            (plan.local_oids if place == "local DVC cache" else plan.remote_oids).add(oid)
        content = stores.read(oid) if what.startswith((f"{RAW}/", f"{FACES}/")) else None
        if content is not None:
            plan.content_hashes |= _digests(content)
            (plan.photo_shas if what.startswith(f"{RAW}/") else plan.crop_shas).add(hashlib.sha256(content).hexdigest())
    gone = set(theirs) - keep
    runs = stores.project.run_cache
    if runs.is_dir() and gone:
        for record in sorted(path for path in runs.rglob("*") if path.is_file()):
            if any(oid in record.read_text(errors="replace") for oid in gone):
                plan.run_records.append(record)
                plan.found.append(Found("DVC run cache", record.name, "a run record of outputs naming them"))

    _find_caches(plan, root)
    plan.remaining = _remaining(root, stores, plan, bool(theirs))
    return plan


def _find_workspace(plan: Plan, root: Path) -> dict[str, set[str]]:
    """Their photo and crop folders, and rejections of them; each file's md5 -> its md5 and sha256."""
    digests: dict[str, set[str]] = {}
    folders = [(folder, root / folder / plan.person, "file") for folder in PERSON_FOLDERS]
    folders.append((LAYOUT.negatives, root / LAYOUT.negatives / plan.person, "rejection"))  # no use once they are gone
    for folder, path, kind in folders:
        if not path.is_dir():
            continue
        plan.workspace_paths.append(path)
        for file in sorted(file for file in path.rglob("*") if file.is_file()):
            data = file.read_bytes()
            both = _digests(data)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            digests[md5] = both
            plan.found.append(
                Found(folder, md5, f"{kind} {file.relative_to(root / RAW if kind == 'rejection' else root / folder)}")
            )
            if folder == RAW:
                plan.photo_shas.add(hashlib.sha256(data).hexdigest())
    return digests


def _find_caches(plan: Plan, root: Path) -> None:
    """faceops's own caches, by content hash."""
    for index in sorted((root / LAYOUT.crop_cache).glob("*/index.json")):
        cache = CropCache(index.parent)
        for sha in sorted(plan.photo_shas & set(cache.results)):
            plan.found.append(Found("crop cache", sha, f"detection result and crop, {index.parent.name}"))
            if cache.results[sha].png_sha256:
                plan.crop_shas.add(cache.results[sha].png_sha256)
    for path in sorted((root / LAYOUT.feature_cache).glob("*.npz")):
        for sha in sorted(forget_features(path, plan.crop_shas, dry_run=True)):
            plan.found.append(Found("feature cache", sha, f"features of a face, {path.name}"))


def _remaining(root: Path, stores: _Stores, plan: Plan, had_history: bool) -> list[str]:
    reasons = []
    if had_history:
        reasons.append(
            f"git history: earlier commits' {LAYOUT.raw_dvc} and {dvc.LOCK} still name the hashes of the listings "
            "above (hashes only: their content is gone); rewriting history is yours to decide"
        )
    if stores.remote_name and stores.remote is None:
        reasons.append(f"DVC remote {stores.remote_name!r}: not cleaned (--no-remote); its copies stay")
    others = sorted(set(stores.project.remote_names()) - {stores.remote_name})
    if others:
        reasons.append(f"DVC remotes {', '.join(others)}: not the default remote, not looked at")
    reasons.append(
        "copies made outside this project (Jenkins artefacts, exported models, backups) are beyond faceops's reach"
    )
    return reasons


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the record store -----------------------------------------------------------------------------------


def _names(text: str | bytes, person: str) -> bool:
    """Whether a record or log line (JSON) names `person`: as the answer, the closest person or a verdict."""
    try:
        record = json.loads(text)
    except ValueError:
        return False
    return isinstance(record, dict) and person in (record.get("name"), record.get("label"), record.get("person"))


def _may_be_theirs(text: str | bytes, person: str) -> bool:
    """Whether a pending or feedback record may hold their face: it names them, or it was answered while someone was
    hidden and that someone was the closest (label "unknown", FaceRecord.hidden_by): a photo of them sent during the
    forget is kept so, naming nobody. A reviewer's verdict that it is someone else keeps it."""
    if _names(text, person):
        return True
    try:
        record = json.loads(text)
        someone_else = record.get("verdict") == "is" and record.get("person") not in ("", None, person)
        return record.get("label") == UNKNOWN and not someone_else
    except (ValueError, AttributeError):
        return False


def records_of(store: RecordStore, person: str) -> tuple[list[str], int]:
    """Keys of the pending and feedback records that may hold their face (`_may_be_theirs`), each crop before its
    record (so a forget killed half-way finds the record again), and how many recognition-log lines name them."""
    keys = []
    for kind in ("pending", "feedback"):
        for entry in sorted(store.entries(f"{kind}/"), key=lambda entry: entry.key):
            if not entry.key.endswith(".json"):
                continue
            try:
                named = _may_be_theirs(store.get(entry.key), person)
            except FileNotFoundError:  # taken meanwhile
                continue
            if named:
                keys += [entry.key[: -len(".json")] + ".jpg", entry.key]
    lines = sum(1 for line in store.lines(RECOGNITIONS) if _names(line, person))
    return keys, lines


def _find_records(plan: Plan, store: RecordStore) -> None:
    keys, lines = records_of(store, plan.person)
    for key in keys:
        kind = "pending crops" if key.startswith("pending/") else "feedback"
        plan.found.append(Found(kind, key, f"in the record store {store.where}"))
        if key.endswith(".jpg"):
            with contextlib.suppress(FileNotFoundError):
                plan.content_hashes |= _digests(store.get(key))
    if lines:
        plan.found.append(Found("recognition log", f"{lines} lines", f"naming them, in {store.where}"))


# -- removing: a journal, step by step --------------------------------------------------------------------

PAUSE_VARIABLE = "FACEOPS_FORGET_PAUSE_AFTER"  # tests only: after this step, say so on stderr and wait


@dataclass
class Journal:
    """A forget under way: the plan, written before anything is removed, and the steps done so far."""

    plan: Plan
    started: str
    retrain: bool
    done: list[str] = field(default_factory=list)
    retrained: str = ""

    def save(self, root: Path) -> None:
        write_json(journal_path(root, self.plan.person), {**self._plain(), "done": self.done})

    def _plain(self) -> dict[str, Any]:
        plan = {}
        for item in dataclasses.fields(Plan):
            value = getattr(self.plan, item.name)
            if isinstance(value, set):
                value = sorted(value)
            elif item.name == "found":
                value = [dataclasses.asdict(found) for found in value]
            elif item.name in _PATH_LISTS:
                value = [str(path) for path in value]
            plan[item.name] = value
        return {"plan": plan, "started": self.started, "retrain": self.retrain, "retrained": self.retrained}

    @classmethod
    def read(cls, root: Path, person: str) -> Journal | None:
        path = journal_path(root, person)
        if not path.exists():
            return None
        data = read_json(path)
        plan = data["plan"]
        values: dict[str, Any] = {}
        for item in dataclasses.fields(Plan):
            value = plan[item.name]
            if item.name == "found":
                value = [Found(**found) for found in value]
            elif item.name in _PATH_LISTS:
                value = [Path(text) for text in value]
            elif isinstance(getattr(Plan(person, None), item.name), set):
                value = set(value)
            values[item.name] = value
        return cls(Plan(**values), data["started"], data["retrain"], list(data["done"]), data["retrained"])


_PATH_LISTS = ("workspace_paths", "run_records", "cards")


def start(plan: Plan, root: str | os.PathLike[str] = ".", retrain: bool = True) -> Journal:
    """Write the journal: from now on no door names or re-creates them, and a rerun finishes the job."""
    if plan.empty:
        raise FaceopsError(nothing_found(plan.person, root)[0])
    journal = Journal(plan, _now(), retrain)
    journal.save(Path(root).resolve())
    return journal


def resume(person: str, root: str | os.PathLike[str] = ".") -> Journal | None:
    """The unfinished forget of `person`, if there is one."""
    return Journal.read(Path(root).resolve(), person_name(person, "--person"))


def finish(journal: Journal, store: RecordStore, root: str | os.PathLike[str] = ".") -> Receipt:
    """Do the steps not done yet, each idempotent and journaled as done, then write the receipt and close."""
    root = Path(root).resolve()
    _pause_for_tests("journal")
    for name, step in _STEPS:
        if name in journal.done:
            continue
        log.info("%s: %s", journal.plan.person, name)
        step(journal, root, store)
        journal.done.append(name)
        journal.save(root)
        _pause_for_tests(name)
    receipt = _verify(journal, root, store)
    receipt = receipt.write(root)
    path = journal_path(root, journal.plan.person)
    for aside in path.parent.glob(f".{glob_escape(path.name)}.*"):  # a journal write cut short by a kill
        aside.unlink(missing_ok=True)
    path.unlink(missing_ok=True)  # last: the forget is done
    return receipt


def _pause_for_tests(step: str) -> None:
    """A hook for tests only (FACEOPS_FORGET_PAUSE_AFTER=STEP, or "journal"): stop there until killed."""
    if os.environ.get(PAUSE_VARIABLE) == step:
        print(f"paused after {step}", file=sys.stderr, flush=True)
        time.sleep(3600)


def forget(
    plan: Plan, root: str | os.PathLike[str] = ".", retrain: bool = True, store: RecordStore | None = None
) -> Receipt:
    """Remove everything `find` found, retrain without the person, look again and write a receipt."""
    return finish(start(plan, root, retrain), store or open_store(None, root), root)


def _cards(journal: Journal, root: Path, store: RecordStore) -> None:
    """First: the service's hot reload picks this up, they are answered unknown from now on."""
    for name in MODEL_CARDS:
        if (root / name).exists():
            card = ModelCard.read(root / name)
            if journal.plan.person in card.labels and journal.plan.person not in card.forgotten:
                card.forget(journal.plan.person).write(root / name)


def clean_records(store: RecordStore, person: str) -> tuple[int, int]:
    """Remove the crops, records, verdicts and log lines that name `person`; how many records and lines."""
    keys, _ = records_of(store, person)
    for key in keys:
        store.delete(key)
    dropped = store.rewrite(RECOGNITIONS, lambda line: not _names(line, person))
    log.info("%s: %d records and %d log lines removed from %s", person, len(keys) // 2, dropped, store.where)
    return len(keys) // 2, dropped


def _records(journal: Journal, root: Path, store: RecordStore) -> None:
    clean_records(store, journal.plan.person)


def _workspace(journal: Journal, root: Path, store: RecordStore) -> None:
    for folder in (RAW, FACES, LAYOUT.negatives):
        if (root / folder / journal.plan.person).exists():
            shutil.rmtree(root / folder / journal.plan.person)


def _listing(journal: Journal, root: Path, store: RecordStore) -> None:
    if (root / LAYOUT.raw_dvc).exists():
        dvc.run("add", "--quiet", RAW, cwd=root)  # the new listing without them


def _caches(journal: Journal, root: Path, store: RecordStore) -> None:
    for index in sorted((root / LAYOUT.crop_cache).glob("*/index.json")):
        CropCache(index.parent).forget(journal.plan.photo_shas)
    for path in sorted((root / LAYOUT.feature_cache).glob("*.npz")):
        forget_features(path, journal.plan.crop_shas)


def _dvc_objects(journal: Journal, root: Path, store: RecordStore) -> None:
    plan = journal.plan
    stores = _Stores(root, plan.use_remote and bool(plan.remote_oids), journaled=True)
    try:
        for oid in sorted(plan.local_oids):
            if stores.local.exists(oid):
                stores.local.delete(oid)
        for record in plan.run_records:
            record.unlink(missing_ok=True)
        for oid in sorted(plan.remote_oids) if stores.remote is not None else []:
            if stores.remote.exists(oid):
                stores.remote.delete(oid)
    finally:
        stores.close()


def _reports(journal: Journal, root: Path, store: RecordStore) -> None:
    """Reports no stage rewrites: removed when they name them (`faceops report` writes a new one)."""
    for name in NAMING_REPORTS:
        path = root / name
        if path.exists() and journal.plan.person.encode() in path.read_bytes():
            path.unlink()


def _retrain_step(journal: Journal, root: Path, store: RecordStore) -> None:
    journal.retrained = _retrain(root) if journal.retrain else "not run (--no-retrain): run dvc repro"


def _dvc_state(journal: Journal, root: Path, store: RecordStore) -> None:
    """DVC's indexes and temporary files name their paths and hashes; they are caches, rebuilt on demand."""
    roots = {"dvc-state": root / dvc.STATE, "dvc-site": _site_cache(root)}
    hits, _ = scan(roots, _needles(journal.plan), ())
    for hit in hits:
        (roots[hit.root] / hit.path).unlink(missing_ok=True)


_STEPS = (
    ("model cards", _cards),
    ("record store", _records),
    ("workspace", _workspace),
    ("dataset listing", _listing),
    ("crop and feature caches", _caches),
    ("DVC cache, run cache and remote", _dvc_objects),
    ("reports", _reports),
    ("retrain", _retrain_step),
    ("DVC state", _dvc_state),
    ("record store, late arrivals", _records),  # a replica's verdict or crop that came in meanwhile
)
STEP_NAMES = tuple(name for name, _ in _STEPS)


def _verify(journal: Journal, root: Path, store: RecordStore) -> Receipt:
    """Search again (DVC stores by hash, the record store by its records) and scan every file; the receipt."""
    plan, person = journal.plan, journal.plan.person
    after = find(person, root, plan.use_remote, store, journaled=True)
    remaining = plan.remaining + [reason for reason in after.remaining if reason not in plan.remaining]
    if after.live_model_knows:
        remaining.append(
            f"the live model ({LAYOUT.model}) was trained with them and answers unknown for them until a "
            f"model trained without them is promoted (dvc repro; {LAYOUT.gate} says why one was refused)"
        )
    leftovers = [
        f"{item.place} {item.key}: {item.what} (still there after removal)"
        for item in after.found
        if not item.place.startswith(f"{Path(LAYOUT.model).parent}/")
    ]
    roots = {"project": root, "dvc-site": _site_cache(root)}
    if isinstance(store, FolderStore):
        roots["records"] = store.root.resolve()
    if plan.remote_folder:
        roots["remote"] = Path(plan.remote_folder)
    needles = _needles(plan)
    committed = tools.git("ls-files", "-z", cwd=root, check=False).stdout.split("\0")
    hits, count = scan(roots, needles, places_for(person, [path for path in committed if path]))
    by_place: dict[str, list[Hit]] = {}
    for hit in hits:
        if hit.place is None or hit.place.handling == CLEANED:
            where = "outside the inventory" if hit.place is None else f"{hit.place.name}, still there after removal"
            leftovers.append(f"{hit.root} {hit.path}: {hit.why} ({where})")
        elif hit.place.handling != KEPT:
            by_place.setdefault(hit.place.name, []).append(hit)
    remaining += leftovers
    for name, found in by_place.items():
        place = found[0].place
        if place is not None and not any(reason.startswith(name) for reason in remaining):
            remaining.append(f"{name} ({len(found)} files, e.g. {found[0].path}): {place.how}")
    checked = [
        f"read {count} files ({', '.join(f'{name} {path}' for name, path in roots.items())}) for their name and "
        f"{len(needles.content_hashes)} hashes of their photos and crops, as content and as mentions",
        f"asked the record store {store.where} for crops, verdicts and log lines naming them",
        "searched the local DVC cache"
        + (f" and the DVC remote {plan.remote!r}" if plan.remote else "")
        + " by hash for every version of the data that the workspace or git history names",
    ]
    return Receipt(
        person, journal.started, _now(), plan.found, remaining, journal.retrained, not leftovers, checked=checked
    )


def _needles(plan: Plan) -> Needles:
    """Their name, and the hashes of files only they hold (a photo someone else's data also holds stays, as
    its DVC object does): as content, and as mentions in indexes and listings."""
    return Needles(plan.person, frozenset(plan.content_hashes), frozenset(plan.content_hashes | plan.crop_shas))


def _digests(data: bytes) -> set[str]:
    return {hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()}


def _site_cache(root: Path) -> Path:
    """DVC's site cache folder for this project (its data index and hash state live there)."""
    with dvc.Project(root) as project:
        return project.site_cache


def _retrain(root: Path) -> str:
    log.info("retraining without them: dvc repro (this takes as long as a training run)")
    result = dvc.run("repro", cwd=root, check=False)
    if result.returncode != 0:
        return f"failed: {tools.last_error(result)}"
    try:
        gate = GateVerdict.read(LAYOUT.at(root, "gate"), missing=None)
    except FaceopsError:  # a verdict that cannot be read: the retrain ran, what it decided is unknown
        gate = None
    promoted = gate.promoted if gate is not None else None
    return {True: "promoted", False: f"refused by the release gate ({LAYOUT.gate})"}.get(promoted, "done")


def nothing_found(person: str, root: str | os.PathLike[str] = ".") -> tuple[str, bool]:
    """What to say when `find` found nothing, and whether that is an error (a name never seen here)."""
    root = Path(root).resolve()
    earlier = receipt_files(root, person)
    if earlier:
        return (
            f"nothing of {person!r} is left to forget (the receipt of the earlier forget: "
            f"{earlier[-1].relative_to(root)}); nothing was changed",
            False,
        )
    known = ", ".join(people_in(root)) or "none"
    return (
        f"no person {person!r} in this project: nothing of theirs in {RAW}, the DVC cache or remote, the caches "
        f"or the live model (people in {RAW}: {known}); nothing was changed",
        True,
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def people_in(root: Path) -> Iterable[str]:
    folders = (root / RAW).iterdir() if (root / RAW).is_dir() else []
    return sorted(path.name for path in folders if path.is_dir() and not path.name.startswith("."))
