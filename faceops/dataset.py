"""The raw data set: `dataset/raw/<person>/*.jpg|png`, one folder per person."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from faceops.atomic import atomic_path
from faceops.errors import FaceopsError
from faceops.images import is_image_name, sha256_file

log = logging.getLogger(__name__)


def check_person_name(name: str, where: str = "person name") -> str:
    """Person names become folder names and labels, so they must be plain, visible names."""
    if not name or not name.strip():
        raise FaceopsError(f"{where}: person name is empty")
    if "/" in name or "\\" in name or os.sep in name:
        raise FaceopsError(f"{where}: person name {name!r} contains a path separator")
    if name.startswith("."):
        raise FaceopsError(f"{where}: person name {name!r} is hidden (starts with '.')")
    if name != name.strip():
        raise FaceopsError(f"{where}: person name {name!r} starts or ends with a space")
    return name


@dataclass(frozen=True)
class RawFile:
    person: str
    path: Path


NEGATIVES_FOLDER = ".negatives"  # in dataset/raw: faces said not to be NAME (feedback), NAME/*.jpg; not a person


def list_raw_files(root: str | os.PathLike[str]) -> list[RawFile]:
    """Every visible file under `root`, person by person, sorted; bad folder names are errors."""
    root = Path(root)
    if not root.is_dir():
        raise FaceopsError(f"{root}: data set folder not found (import photos with `faceops import-folder`)")
    files: list[RawFile] = []
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            if entry.name.startswith(".") or entry.name == "README.md":
                continue
            raise FaceopsError(f"{entry}: photos must be inside a folder named after the person")
        if entry.name == NEGATIVES_FOLDER:
            continue
        check_person_name(entry.name, where=str(entry))
        for path in sorted(entry.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(entry).parts):
                files.append(RawFile(entry.name, path))
    return files


@dataclass(frozen=True)
class ImportSummary:
    people: int
    copied: int
    already_present: int
    skipped_people: int


def import_folder(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    min_images: int = 1,
    max_people: int | None = None,
    max_images: int | None = None,
) -> ImportSummary:
    """Copy a photo tree (one folder per person) into the raw data set, never overwriting."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FaceopsError(f"{source}: not a folder")
    people: list[tuple[str, list[Path]]] = []
    for entry in sorted(source.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        check_person_name(entry.name, where=str(entry))
        photos = sorted(p for p in entry.iterdir() if p.is_file() and is_image_name(p))
        people.append((entry.name, photos))
    if not people:
        raise FaceopsError(f"{source}: no person folders found (expected {source}/<person>/*.jpg)")
    eligible = [(name, photos) for name, photos in people if len(photos) >= min_images]
    eligible.sort(key=lambda item: (-len(item[1]), item[0]))
    if max_people is not None:
        eligible = eligible[:max_people]
    if not eligible:
        raise FaceopsError(f"{source}: no person has at least {min_images} photos")
    copied = present = 0
    for name, photos in sorted(eligible):
        for photo in photos[:max_images]:
            target = dest / name / photo.name
            if target.exists():
                if sha256_file(target) != sha256_file(photo):
                    raise FaceopsError(
                        f"{target}: already exists with different content; raw photos are never overwritten"
                    )
                present += 1
                continue
            with atomic_path(target) as tmp:
                shutil.copyfile(photo, tmp)
            copied += 1
    summary = ImportSummary(len(eligible), copied, present, len(people) - len(eligible))
    log.info(
        "imported %d people into %s: %d photos copied, %d already there, %d people skipped",
        summary.people,
        dest,
        summary.copied,
        summary.already_present,
        summary.skipped_people,
    )
    return summary


def import_lfw(
    dest: str | os.PathLike[str], min_faces_per_person: int = 20, max_people: int | None = None
) -> ImportSummary:
    """Fetch Labeled Faces in the Wild through scikit-learn (needs a network) into the raw data set."""
    from sklearn.datasets import fetch_lfw_people

    try:
        lfw = fetch_lfw_people(min_faces_per_person=min_faces_per_person, color=True, resize=1.0, funneled=True)
    except OSError as exc:
        raise FaceopsError(
            f"could not download LFW ({exc}); without a network, copy the photos in with "
            "`faceops import-folder PATH/lfw-people-20`"
        ) from None
    from PIL import Image

    staging = Path(dest).parent / ".lfw-staging"
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = {}
    for image, target in zip(lfw.images, lfw.target):
        name = str(lfw.target_names[target]).replace(" ", "_")
        counts[name] = counts.get(name, 0) + 1
        path = staging / name / f"{name}_{counts[name]:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = image if image.max() > 1.0 else image * 255
        Image.fromarray(pixels.astype("uint8")).save(path)
    try:
        return import_folder(staging, dest, min_images=min_faces_per_person, max_people=max_people)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
