"""Atomic writes: a crash never leaves a half-written model, manifest or metric."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from faceops.core.errors import FaceopsError


def umask_mode(mode: int) -> int:
    """`mode` as the user's umask leaves it (temporary files are created 0600, outputs should not be)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    `suffix` lets writers that infer the format from the name (Keras, matplotlib) see it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    made: list[str] = []  # holds the temporary file's name from before the file exists: see _new_file
    try:
        tmp_name = _new_file(target, suffix or target.suffix, made)
        yield Path(tmp_name)
        os.chmod(tmp_name, umask_mode(0o666))
        os.replace(tmp_name, target)
    finally:
        for name in made:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def _new_file(target: Path, suffix: str, made: list[str]) -> str:
    """A new empty file `.NAME.RANDOM SUFFIX` beside `target` (as mkstemp makes), put in `made` before it exists.

    Why not mkstemp: the CLI raises SIGTERM and Ctrl-C as exceptions, and one raised inside mkstemp, after the
    open() that made the file but before its name came back, left `.NAME.xxxxxxxx.jpg` in dataset/raw (a sixth of
    the SIGTERMs to a `faceops import-folder` did: signals land during system calls). Here the caller's `finally`
    already knows the name when the file appears."""
    for _ in range(100):
        made.append(str(target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}"))
        try:
            os.close(os.open(made[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            made.pop()  # another writer's: never ours to remove
            continue
        return made[-1]
    raise FileExistsError(f"{target.parent}: no free temporary name for {target.name}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def read_json(path: str | os.PathLike[str], missing: str | None = "not found; run `dvc repro` first") -> Any:
    """Read a JSON file the pipeline wrote. A missing file is an error whose reason is `missing`,
    or None when `missing` is None (optional inputs); broken JSON is always an error naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        if missing is None:
            return None
        raise FaceopsError(f"{path}: {missing}") from None
    except json.JSONDecodeError as exc:
        raise FaceopsError(f"{path}: not valid JSON ({exc})") from None


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_csv(path: str | os.PathLike[str], fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fieldnames))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory under a temporary name and swap it in whole when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, umask_mode(0o777))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "previous")
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
