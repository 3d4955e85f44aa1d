"""`faceops forget`: remove one person from every place faceops and DVC keep them, and write a receipt.

A person lives on in more places than their photo folder: the DVC cache and remote (their photos,
their face crops, the directory listings and manifests that name them, models trained on them, DVC's
run records), the faces stage's crop cache, the feature cache and the live model. `find` looks in
each place by content hash, for every version that git history (experiments included) or the
workspace names; `forget` removes what it found, marks the live model so it answers "unknown" for
them at once, retrains without them, looks again and writes what it removed and what remains.

An object another person's data also uses (the same photo filed twice) is never removed; nothing is
ever removed by a blanket `dvc gc`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faceops import tools
from faceops.atomic import write_json, write_text
from faceops.card import ModelCard
from faceops.errors import FaceopsError
from faceops.faces import CropCache
from faceops.features import forget_features
from faceops.names import person_name
from faceops.negatives import NEGATIVES_DIR

log = logging.getLogger(__name__)

RAW = "dataset/raw"
FACES = "data/faces"
PERSON_FOLDERS = (RAW, FACES)  # DVC directories with one folder per person
NAMED_TABLES = ("data/faces.csv", "data/split.csv")  # cached tables with one row per face and a `person` column
MODEL_CARDS = ("models/model.json", "models/candidate.json")  # each beside its .keras
MODEL_WEIGHTS = tuple(str(Path(card).with_suffix(".keras")) for card in MODEL_CARDS)
CROP_CACHE, FEATURE_CACHE, RECEIPTS = ".faceops/crops", ".faceops/features", "receipts"


@dataclass(frozen=True)
class Found:
    """One thing of the person's: where it is, its key there, and what it is."""

    place: str  # "dataset/raw", "local DVC cache", "DVC remote 'storage'", "crop cache", ...
    key: str  # a DVC md5 (".dir" for listings), a sha256, or a path
    what: str  # "photo Ada/0001.jpg", "listing of dataset/raw", "model card", ...


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


@dataclass(frozen=True)
class Receipt:
    person: str
    started: str
    finished: str
    removed: list[Found]
    remaining: list[str]
    retrained: str  # "promoted", "refused by the release gate", "failed: ...", "not run (--no-retrain)"
    verified: bool  # a second search after the removal found nothing but `remaining`
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        lines = [
            f"faceops forget receipt: {self.person}",
            f"started {self.started}, finished {self.finished}",
            f"retrain without them: {self.retrained}",
            f"verified by a second search: {'yes, nothing of them is left' if self.verified else 'NO'}",
            "",
            f"removed ({len(self.removed)}):",
        ]
        lines += [f"  {item.place}\t{item.key}\t{item.what}" for item in self.removed]
        lines += ["", f"remains ({len(self.remaining)}):"] + [f"  {reason}" for reason in self.remaining]
        return "\n".join(lines) + "\n"


# -- looking --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    """One version of a DVC-tracked output, as a .dvc file or dvc.lock names it."""

    path: str  # the output's path in the project
    oid: str  # its md5 ("….dir" for a directory)
    sibling: str = ""  # a model card's .keras of the same version


def _tracked_versions(root: Path) -> set[_Version]:
    """Every version of every output that the workspace or any commit (experiments included) names."""
    texts: dict[str, set[str]] = {"dataset/raw.dvc": set(), "dvc.lock": set()}
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
    for text in texts["dataset/raw.dvc"]:
        for out in (yaml.safe_load(text) or {}).get("outs", []):
            if out.get("md5"):
                versions.add(_Version(str(Path("dataset") / out["path"]), out["md5"]))
    for text in texts["dvc.lock"]:
        for stage in ((yaml.safe_load(text) or {}).get("stages") or {}).values():
            outs = {out["path"]: out.get("md5", "") for out in stage.get("outs", []) if out.get("md5")}
            for path, oid in outs.items():
                sibling = outs.get(str(Path(path).with_suffix(".keras")), "") if path in MODEL_CARDS else ""
                versions.add(_Version(path, oid, sibling))
    return versions


class _Stores:
    """The local DVC cache and, when it is cleaned too, the default remote: read, test and delete objects."""

    def __init__(self, root: Path, use_remote: bool) -> None:
        from dvc.repo import Repo

        self.repo = Repo(str(root))
        self.local = self.repo.cache.local
        self.remote_name: str | None = self.repo.config["core"].get("remote")
        self.use_remote = use_remote
        self.remote = None
        if self.remote_name and use_remote:
            try:
                self.remote = self.repo.cloud.get_remote_odb(self.remote_name, command="forget")
                if not self.remote.fs.exists(self.remote.path):  # reachable, nothing pushed yet
                    log.info("DVC remote %r has nothing yet", self.remote_name)
            except Exception as exc:  # noqa: BLE001 - every fsspec backend raises its own types
                message = " ".join(str(exc).split())[:300] or type(exc).__name__
                raise FaceopsError(
                    f"the DVC remote {self.remote_name!r} is not reachable ({message}); nothing was changed. "
                    "Fix the remote (faceops doctor says more), or pass --no-remote to leave its copies and "
                    "have the receipt say so"
                ) from None

    @property
    def remote_place(self) -> str:
        return f"DVC remote {self.remote_name!r}"

    def close(self) -> None:
        self.repo.close()

    def read(self, oid: str) -> bytes | None:
        for odb in (self.local, self.remote):
            if odb is not None and odb.exists(oid):
                with odb.fs.open(odb.oid_to_path(oid), "rb") as handle:
                    return handle.read()
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


def _card_labels(data: bytes) -> list[str]:
    try:
        labels = json.loads(data).get("labels", [])
    except (ValueError, AttributeError):
        return []
    return [str(label) for label in labels] if isinstance(labels, list) else []


def find(person: str, root: str | os.PathLike[str] = ".", use_remote: bool = True) -> Plan:
    """Look for everything of `person`: in the workspace, the caches, the DVC cache and the default remote."""
    person = person_name(person, "--person")
    root = Path(root).resolve()
    if not (root / ".dvc").is_dir():
        raise FaceopsError(f"{root}: not a DVC project (no .dvc folder); run faceops forget in your project")
    stores = _Stores(root, use_remote)
    try:
        return _find(person, root, stores)
    finally:
        stores.close()


def _find(person: str, root: Path, stores: _Stores) -> Plan:
    plan = Plan(person, stores.remote_name if stores.remote is not None else None, stores.use_remote)
    # The workspace: their photo and crop folders, and live model cards that name them.
    for folder in PERSON_FOLDERS:
        if (root / folder / person).exists():
            plan.workspace_paths.append(root / folder / person)
            for path in sorted((root / folder / person).rglob("*")):
                if path.is_file():
                    plan.found.append(Found(folder, _md5(path), f"file {path.relative_to(root / folder)}"))
                    if folder == RAW:
                        plan.photo_shas.add(hashlib.sha256(path.read_bytes()).hexdigest())
    rejections = root / NEGATIVES_DIR / person  # faces said not to be them: no use once they are gone
    if rejections.is_dir():
        plan.workspace_paths.append(rejections)
        for path in sorted(p for p in rejections.rglob("*") if p.is_file()):
            plan.found.append(Found(NEGATIVES_DIR, _md5(path), f"rejection {path.relative_to(root / RAW)}"))
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
            mine = [entry for entry in entries if entry["relpath"].split("/")[0] == person]
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
    for oid, what in sorted(theirs.items()):
        if oid in keep:
            continue
        for place in stores.where(oid):
            plan.found.append(Found(place, oid, what))
            (plan.local_oids if place == "local DVC cache" else plan.remote_oids).add(oid)
        content = stores.read(oid) if what.startswith((f"{RAW}/", f"{FACES}/")) else None
        if content is not None:
            (plan.photo_shas if what.startswith(f"{RAW}/") else plan.crop_shas).add(hashlib.sha256(content).hexdigest())
    gone = set(theirs) - keep
    runs = Path(stores.repo.stage_cache.cache_dir)
    if runs.is_dir() and gone:
        for record in sorted(path for path in runs.rglob("*") if path.is_file()):
            if any(oid in record.read_text(errors="replace") for oid in gone):
                plan.run_records.append(record)
                plan.found.append(Found("DVC run cache", record.name, "a run record of outputs naming them"))

    # faceops's own caches, by content hash.
    for index in sorted((root / CROP_CACHE).glob("*/index.json")):
        cache = CropCache(index.parent)
        for sha in sorted(plan.photo_shas & set(cache.results)):
            plan.found.append(Found("crop cache", sha, f"detection result and crop, {index.parent.name}"))
            if cache.results[sha].png_sha256:
                plan.crop_shas.add(cache.results[sha].png_sha256)
    for path in sorted((root / FEATURE_CACHE).glob("*.npz")):
        for sha in sorted(forget_features(path, plan.crop_shas, dry_run=True)):
            plan.found.append(Found("feature cache", sha, f"features of a face, {path.name}"))

    plan.remaining = _remaining(root, stores, plan, bool(theirs))
    return plan


def _remaining(root: Path, stores: _Stores, plan: Plan, had_history: bool) -> list[str]:
    reasons = []
    if had_history:
        reasons.append(
            "git history: earlier commits' dataset/raw.dvc and dvc.lock still name the hashes of the listings "
            "above (hashes only: their content is gone); rewriting history is yours to decide"
        )
    if stores.remote_name and stores.remote is None:
        reasons.append(f"DVC remote {stores.remote_name!r}: not cleaned (--no-remote); its copies stay")
    others = sorted(set(stores.repo.config.get("remote", {})) - {stores.remote_name})
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


# -- removing -------------------------------------------------------------------------------------------


def forget(plan: Plan, root: str | os.PathLike[str] = ".", retrain: bool = True) -> Receipt:
    """Remove everything `find` found, retrain without the person, look again and write a receipt."""
    root = Path(root).resolve()
    started, person, use_remote = _now(), plan.person, plan.use_remote
    if plan.empty:
        raise FaceopsError(nothing_found(person, root)[0])
    stores = _Stores(root, use_remote)
    try:
        _remove(plan, root, stores)
    finally:
        stores.close()
    retrained = _retrain(root) if retrain else "not run (--no-retrain): run dvc repro"
    after = find(person, root, use_remote)
    remaining = plan.remaining + [reason for reason in after.remaining if reason not in plan.remaining]
    if after.live_model_knows:
        remaining.append(
            "the live model (models/model.keras) was trained with them and answers unknown for them until a "
            "model trained without them is promoted (dvc repro; reports/gate.json says why one was refused)"
        )
    leftovers = [item for item in after.found if not item.place.startswith("models/")]
    remaining += [f"{item.place} {item.key}: {item.what} (still there after removal)" for item in leftovers]
    receipt = Receipt(person, started, _now(), plan.found, remaining, retrained, not leftovers)
    return _write_receipt(root, receipt)


def _remove(plan: Plan, root: Path, stores: _Stores) -> None:
    """In the order that stops serving them first and leaves no reference to a removed object behind."""
    for path in plan.cards:  # the service's hot reload picks this up: they are unknown from now on
        ModelCard.read(path).forget(plan.person).write(path)
    for path in plan.workspace_paths:
        shutil.rmtree(path)
    if plan.workspace_paths and (root / f"{RAW}.dvc").exists():
        tools.dvc("add", "--quiet", RAW, cwd=root)  # the new listing without them
    for index in sorted((root / CROP_CACHE).glob("*/index.json")):
        CropCache(index.parent).forget(plan.photo_shas)
    for path in sorted((root / FEATURE_CACHE).glob("*.npz")):
        forget_features(path, plan.crop_shas)
    for oid in sorted(plan.local_oids):
        stores.local.delete(oid)
    for record in plan.run_records:
        record.unlink(missing_ok=True)
    if stores.remote is not None:
        for oid in sorted(plan.remote_oids):
            stores.remote.delete(oid)
    log.info(
        "%s: removed %d local objects, %d remote objects, %d run records, %d workspace folders",
        plan.person,
        len(plan.local_oids),
        len(plan.remote_oids),
        len(plan.run_records),
        len(plan.workspace_paths),
    )


def _retrain(root: Path) -> str:
    log.info("retraining without them: dvc repro (this takes as long as a training run)")
    result = tools.dvc("repro", cwd=root, check=False)
    if result.returncode != 0:
        return f"failed: {tools.last_error(result)}"
    gate = root / "reports" / "gate.json"
    try:
        promoted = json.loads(gate.read_text()).get("promoted")
    except (OSError, ValueError):
        promoted = None
    return {True: "promoted", False: "refused by the release gate (reports/gate.json)"}.get(promoted, "done")


def _write_receipt(root: Path, receipt: Receipt) -> Receipt:
    stamp = receipt.finished.replace(":", "").replace("-", "")
    base = root / RECEIPTS / f"forget-{receipt.person}-{stamp}"
    files = (str(base.with_suffix(".json").relative_to(root)), str(base.with_suffix(".txt").relative_to(root)))
    receipt = dataclasses.replace(receipt, files=files)
    write_json(base.with_suffix(".json"), receipt.to_dict())
    write_text(base.with_suffix(".txt"), receipt.text())
    return receipt


def nothing_found(person: str, root: str | os.PathLike[str] = ".") -> tuple[str, bool]:
    """What to say when `find` found nothing, and whether that is an error (a name never seen here)."""
    root = Path(root).resolve()
    earlier = sorted((root / RECEIPTS).glob(f"forget-{person}-*.json"))
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
