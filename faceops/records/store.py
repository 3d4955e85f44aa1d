"""Where the service keeps feedback and drift records: one small interface, two places.

- `FolderStore`: a folder on this machine (default: the project, so crops wait in .faceops/pending, verdicts
  in .faceops/feedback and the recognition log is logs/recognitions.jsonl).
- `BucketStore`: a path in an S3-compatible bucket, reached through the DVC remote's own filesystem
  (`remote://NAME/PATH`: its endpoint and credentials, the same dvc[s3] stack). Several service replicas
  behind a load balancer then share the waiting crops and the feedback, and `faceops monitor` reads every
  replica's recognitions.

Keys are logical ("pending/ID.jpg", "feedback/ID.json"); logs are named ("recognitions") and only ever appended to.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from faceops.core import dvc
from faceops.core.atomic import atomic_path
from faceops.core.errors import FaceopsError, UsageError
from faceops.core.layout import LAYOUT

RECORDS_VARIABLE = "FACEOPS_RECORDS"
# Where each kind of record lives in a project folder (the paths faceops has always used).
FOLDER_LAYOUT = {"pending": LAYOUT.pending, "feedback": LAYOUT.feedback}
LOG_FILES = {"recognitions": LAYOUT.recognition_log}


@dataclass(frozen=True)
class Entry:
    key: str  # "pending/0123abcd.json"
    size: int
    mtime: float  # epoch seconds


class RecordStore(Protocol):
    where: str  # for messages: a folder, or remote://NAME/PATH and the bucket path

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...  # FileNotFoundError if absent

    def delete(self, key: str) -> None: ...  # absent: no error

    def take(self, key: str) -> bytes: ...  # get and delete; FileNotFoundError if absent (or taken meanwhile)

    def entries(self, prefix: str) -> list[Entry]: ...  # "pending/": the records of that kind

    def locate(self, key: str) -> str: ...  # where a record is, for people: a path or a bucket URL

    def append(self, log: str, text: str) -> None: ...  # whole lines

    def lines(self, log: str) -> Iterator[str]: ...  # every replica's, oldest files first

    def rewrite(self, log: str, keep: Callable[[str], bool]) -> int: ...  # drop lines (forget); how many

    def close(self) -> None: ...  # flush what is buffered


MAX_OBJECT_BYTES = 32 * 1024 * 1024  # a face crop or a record is kilobytes


class ForeignObjectError(FileNotFoundError):
    """A file in the store's place of a record that is no record (a device, a FIFO, a huge file): every reader
    already skips a record that is gone (taken meanwhile), and this one is as good as gone."""


def _read_small(path: Path) -> bytes:
    """A stored object's bytes: a regular file of at most MAX_OBJECT_BYTES, else ForeignObjectError. Why: a crop
    that was a link to /dev/zero made `POST /feedback` read until the memory ran out."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO does not hold the open
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_OBJECT_BYTES:
            raise ForeignObjectError(f"{path}: not a record (not a regular file of at most {MAX_OBJECT_BYTES} bytes)")
        data = handle.read(MAX_OBJECT_BYTES + 1)
    if len(data) > MAX_OBJECT_BYTES:  # grew while we read
        raise ForeignObjectError(f"{path}: not a record (more than {MAX_OBJECT_BYTES} bytes)")
    return data


class FolderStore:
    """Records in a folder: each written aside and renamed into place; the log appended and rotated by size."""

    def __init__(self, root: str | os.PathLike[str], max_log_bytes: int = 10 * 1024 * 1024, keep: int = 5) -> None:
        self.root = Path(root)
        self.where = str(self.root)
        self.max_log_bytes = max_log_bytes
        self.keep = keep
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        kind, _, name = key.partition("/")
        return self.root / FOLDER_LAYOUT[kind] / name

    def put(self, key: str, data: bytes) -> None:
        with atomic_path(self._path(key)) as aside:  # readers see all of it or nothing
            aside.write_bytes(data)

    def get(self, key: str) -> bytes:
        return _read_small(self._path(key))

    def locate(self, key: str) -> str:
        return str(self._path(key))

    def take(self, key: str) -> bytes:
        """Atomic: of two takers of one record, exactly one gets it (the rename decides)."""
        path = self._path(key)
        claimed = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.taken")
        os.rename(path, claimed)
        try:
            return _read_small(claimed)
        finally:
            claimed.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def entries(self, prefix: str) -> list[Entry]:
        kind = prefix.rstrip("/")
        folder = self.root / FOLDER_LAYOUT[kind]
        found = []
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # taken by another process meanwhile
                continue
            found.append(Entry(f"{kind}/{path.name}", info.st_size, info.st_mtime))
        return found

    def append(self, log: str, text: str) -> None:
        path = self.root / LOG_FILES[log]
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size + len(text) > self.max_log_bytes:
                for index in range(self.keep - 1, 0, -1):
                    older = path.with_name(f"{path.name}.{index}")
                    if older.exists():
                        older.replace(path.with_name(f"{path.name}.{index + 1}"))
                path.replace(path.with_name(f"{path.name}.1"))
            with open(path, "a") as handle:  # one write of whole lines: readers never see half a record
                handle.write(text)

    def lines(self, log: str) -> Iterator[str]:
        path = self.root / LOG_FILES[log]
        rotated = [path.with_name(f"{path.name}.{index}") for index in range(self.keep, 0, -1)]
        for file in [*rotated, path]:  # oldest first
            if file.is_file():
                yield from file.read_text(errors="replace").splitlines()

    def rewrite(self, log: str, keep: Callable[[str], bool]) -> int:
        """Drop the lines `keep` refuses from every file of the log, each rewritten atomically (`faceops forget`)."""
        path = self.root / LOG_FILES[log]
        dropped = 0
        with self._lock:
            for file in [*(path.with_name(f"{path.name}.{index}") for index in range(1, self.keep + 1)), path]:
                if not file.is_file():
                    continue
                lines = file.read_bytes().splitlines(keepends=True)
                kept = [line for line in lines if keep(line.decode(errors="replace").rstrip("\n"))]
                if len(kept) != len(lines):
                    with atomic_path(file) as aside:
                        aside.write_bytes(b"".join(kept))
                    dropped += len(lines) - len(kept)
        return dropped

    def close(self) -> None:
        return None


class BucketStore:
    """Records as objects under `root` of an fsspec filesystem (s3fs for an S3 bucket).

    A log is never appended in place (objects cannot be): each replica buffers its lines and writes them as
    a new object `root/LOG/REPLICA/TIME-N.jsonl` when the buffer is `flush_seconds` old or `flush_bytes` big,
    and when the service stops. Each replica keeps at most `max_log_bytes` of its own log objects."""

    def __init__(
        self,
        fs: Any,
        root: str,
        name: str,
        flush_seconds: float = 60.0,
        flush_bytes: int = 1024 * 1024,
        max_log_bytes: int = 50 * 1024 * 1024,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.name = name
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes
        self.max_log_bytes = max_log_bytes
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._buffers: dict[str, list[str]] = {}
        self._since: dict[str, float] = {}
        self._written = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.root}"

    @property
    def where(self) -> str:
        return f"{self.name} ({self.url})"  # remote://store/faceops-records (s3://bucket/store/faceops-records)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _call(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - fsspec's
        """Every call to the bucket, bounded in time (FACEOPS_REMOTE_SECONDS): a hang becomes a RemoteError."""
        return dvc.bounded(f"the record store {self.where}", call, *args, **kwargs)

    def put(self, key: str, data: bytes) -> None:
        self._call(self.fs.pipe_file, self._path(key), data)

    def get(self, key: str) -> bytes:
        return self._call(self.fs.cat_file, self._path(key))

    def take(self, key: str) -> bytes:
        """A read, then a delete: two replicas taking one record at the same instant may both get it."""
        data = self.get(key)
        self.delete(key)
        return data

    def locate(self, key: str) -> str:
        return f"{self.url}/{key}"

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, self._path(key))

    def _find(self, path: str, detail: bool = False) -> Any:
        """Every object under `path`, listed now: other replicas write there too, so no cached listing."""
        self.fs.invalidate_cache(path)
        return self._call(self.fs.find, path, detail=detail)

    def entries(self, prefix: str) -> list[Entry]:
        try:
            found = self._find(self._path(prefix.rstrip("/")), detail=True)
        except FileNotFoundError:
            return []
        entries = []
        for path, info in found.items():
            modified = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
            entries.append(Entry(path[len(self.root) + 1 :], int(info.get("size") or 0), stamp))
        return entries

    def append(self, log: str, text: str) -> None:
        with self._lock:
            self._buffers.setdefault(log, []).append(text)
            self._since.setdefault(log, time.time())
            size = sum(len(part) for part in self._buffers[log])
            due = time.time() - self._since[log] >= self.flush_seconds or size >= self.flush_bytes
        if due:
            self.flush(log)

    def flush(self, log: str) -> None:
        with self._lock:
            text = "".join(self._buffers.pop(log, []))
            self._since.pop(log, None)
            self._written += 1
            name = f"{self.root}/{log}/{self.replica}/{time.time():.6f}-{self._written:06d}.jsonl"
        if text:
            self._call(self.fs.pipe_file, name, text.encode())
            self._trim(log)

    def _trim(self, log: str) -> None:
        """Drop this replica's oldest log objects beyond `max_log_bytes`."""
        mine = sorted(self._find(f"{self.root}/{log}/{self.replica}", detail=True).items())
        total = sum(int(info.get("size") or 0) for _, info in mine)
        for path, info in mine:
            if total <= self.max_log_bytes:
                break
            self._call(self.fs.rm_file, path)
            total -= int(info.get("size") or 0)

    def lines(self, log: str) -> Iterator[str]:
        try:
            objects = self._find(f"{self.root}/{log}")
        except FileNotFoundError:
            return
        for path in sorted(objects, key=lambda p: p.rsplit("/", 1)[-1]):  # by time, across replicas
            yield from self._call(self.fs.cat_file, path).decode(errors="replace").splitlines()

    def rewrite(self, log: str, keep: Callable[[str], bool]) -> int:
        """Drop the lines `keep` refuses from every replica's log objects (`faceops forget`); how many."""
        self.close()  # this replica's buffered lines first
        try:
            objects = self._find(f"{self.root}/{log}")
        except FileNotFoundError:
            return 0
        dropped = 0
        for path in objects:
            lines = self._call(self.fs.cat_file, path).splitlines(keepends=True)
            kept = [line for line in lines if keep(line.decode(errors="replace").rstrip("\n"))]
            if len(kept) != len(lines):
                self._call(self.fs.pipe_file, path, b"".join(kept)) if kept else self._call(self.fs.rm_file, path)
                dropped += len(lines) - len(kept)
        return dropped

    def close(self) -> None:
        for log in list(self._buffers):
            self.flush(log)


_REMOTE = re.compile(r"remote://([^/]+)(?:/(.*))?")


def open_store(place: str | None, project: str | os.PathLike[str] = ".") -> RecordStore:
    """The store `place` names: a folder, or remote://NAME/PATH (the DVC remote NAME's bucket, under PATH);
    none: FACEOPS_RECORDS, else the project folder."""
    given = bool(place)
    place = place or os.environ.get(RECORDS_VARIABLE) or str(project)
    match = _REMOTE.fullmatch(place)
    if not match:
        if "://" in place:
            raise FaceopsError(
                f"--records {place!r}: allowed: a folder, or remote://NAME/PATH for the DVC remote NAME's bucket"
            )
        if not Path(place).exists():  # a mistyped folder would read as an empty store: an all-clear
            source = "--records" if given else RECORDS_VARIABLE
            raise UsageError(
                f"{source} {place!r}: no such folder; allowed: an existing folder, or remote://NAME/PATH for the "
                "DVC remote NAME's bucket"
            )
        return FolderStore(place)
    name, sub = match.group(1), (match.group(2) or "faceops-records").strip("/")
    dvc.remote_seconds()  # a bad bound is refused before the store is used
    try:
        with dvc.Project(project) as repo:
            remote = repo.remote_fs(name)
            fs, root = remote.fs, f"{remote.path.rstrip('/')}/{sub}"
    except Exception as exc:  # dvc raises its own types for an unknown remote or a bad config
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise FaceopsError(f"--records {place!r}: the DVC remote {name!r} cannot be used ({text[:200]})") from None
    return BucketStore(fs, root, place, flush_seconds=_flush_seconds())


def _flush_seconds() -> float:
    text = os.environ.get("FACEOPS_RECORDS_FLUSH_SECONDS", "60")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise FaceopsError(f"FACEOPS_RECORDS_FLUSH_SECONDS is {text!r}; allowed: seconds, 0 or more")
    return value
