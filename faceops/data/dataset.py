"""The raw data set: `dataset/raw/<person>/*.jpg|png`, one folder per person."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from faceops.core.atomic import atomic_path
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.names import BadNameError, person_name, refuse_second_spelling
from faceops.data.images import is_image_name, sha256_file

log = logging.getLogger(__name__)


def not_regular(path: Path) -> str | None:
    """Why `path` may not bring data in (a symbolic link or a special file), or None for a plain file or folder.

    A link could pull any file of the machine (/etc/shadow) into the data set and the DVC cache; a FIFO
    or device would hang or stream forever."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"is a symbolic link (to {os.readlink(path)}); only real files are taken in"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "is a special file (device, FIFO or socket); only regular files are taken in"
    return None


@dataclass(frozen=True)
class RawFile:
    person: str
    path: Path


# in the raw data set: faces said not to be NAME (feedback), NAME/*.jpg; not a person
NEGATIVES_FOLDER = PurePosixPath(LAYOUT.negatives).name


def list_raw_files(root: str | os.PathLike[str]) -> list[RawFile]:
    """Every visible file under `root`, person by person, sorted.

    Bad folder names, a second spelling of a person, links and special files are errors."""
    root = Path(root)
    if not root.is_dir():
        raise FaceopsError(f"{root}: data set folder not found (import photos with `faceops import-folder`)")
    files: list[RawFile] = []
    people: list[str] = []
    for entry in sorted(root.iterdir()):
        if (reason := not_regular(entry)) is not None:
            raise FaceopsError(f"{entry}: {reason}; remove it from the data set")
        if entry.is_file():
            if entry.name.startswith(".") or entry.name == "README.md":
                continue
            raise FaceopsError(f"{entry}: photos must be inside a folder named after the person")
        if entry.name == NEGATIVES_FOLDER:
            continue
        name = raw_person_name(entry, people)
        people.append(name)
        files += [RawFile(name, path) for path in _person_files(entry)]
    return files


def raw_person_name(folder: Path, people: list[str]) -> str:
    """The person a data set folder holds: a valid name, spelt in NFC, not a second spelling of another's."""
    name = person_name(folder.name, where=str(folder))
    if name != folder.name:
        raise BadNameError(f"{folder}: the folder name is not in Unicode NFC form; rename it to {name!r}")
    refuse_second_spelling(name, people, where=str(folder))
    return name


def _person_files(folder: Path) -> list[Path]:
    """The visible files in a person's folder and its sub-folders, sorted; a link or special file is an error."""
    found: list[Path] = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in [*dirs, *names]:
            path = Path(top) / name
            if not name.startswith(".") and (reason := not_regular(path)) is not None:
                raise FaceopsError(f"{path}: {reason}; remove it from the data set")
        found += [Path(top) / name for name in names if not name.startswith(".")]
    return sorted(found)


@dataclass(frozen=True)
class ImportSummary:
    people: int
    copied: int
    already_present: int
    skipped_people: int
    skipped_files: tuple[str, ...] = ()  # "PATH: why" for each link or special file not taken in


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
    people, skipped = _source_people(source, dest)
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
    summary = ImportSummary(len(eligible), copied, present, len(people) - len(eligible), tuple(skipped))
    log.info(
        "imported %d people into %s: %d photos copied, %d already there, %d people skipped",
        summary.people,
        dest,
        summary.copied,
        summary.already_present,
        summary.skipped_people,
    )
    return summary


def _source_people(source: Path, dest: Path) -> tuple[list[tuple[str, list[Path]]], list[str]]:
    """(person, photos) per folder of `source`, and "PATH: why" for each link or special file left out.

    Folder names pass the person-name rules; a second spelling of a person in `source` or already in
    `dest` is refused, so that one person never becomes two."""
    people: list[tuple[str, list[Path]]] = []
    skipped: list[str] = []
    known = [p.name for p in dest.iterdir() if p.is_dir()] if dest.is_dir() else []
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):
            continue
        if (reason := not_regular(entry)) is not None:
            skipped.append(f"{entry}: {reason}")
            continue
        if not entry.is_dir():
            continue
        name = person_name(entry.name, where=str(entry))
        refuse_second_spelling(name, [*known, *(other for other, _ in people)], where=str(entry))
        photos = []
        for path in sorted(p for p in entry.iterdir() if is_image_name(p)):
            if (reason := not_regular(path)) is not None:
                skipped.append(f"{path}: {reason}")
            elif path.is_file():
                photos.append(path)
        people.append((name, photos))
    for line in skipped:
        log.warning("skipped %s", line)
    return people, skipped


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
