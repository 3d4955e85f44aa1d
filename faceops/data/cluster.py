"""The faces stage's per-photo work on a Dask cluster, when FACEOPS_DASK_SCHEDULER names one.

Tasks carry the photos' bytes and bring back the crops' bytes, so workers need no shared file system; the
client writes the crops where the local run would, so the outputs are byte for byte the same. Before any work
the client checks that every worker runs the same faceops (version and source), dlib, OpenCV, Pillow, NumPy and
TensorFlow as itself. A worker that dies mid-run costs only time: Dask runs its tasks again on the others.
Without the variable, `faceops.core.parallel.map_chunks` runs the work on this host's processes as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from faceops.core.atomic import atomic_path
from faceops.core.errors import FaceopsError
from faceops.core.parallel import map_chunks

log = logging.getLogger(__name__)

SCHEDULER_VARIABLE = "FACEOPS_DASK_SCHEDULER"
_ADDRESS = re.compile(r"tcp://[A-Za-z0-9.\-\[\]:]+:\d{1,5}")
CHECKED_PACKAGES = ("dlib-bin", "dlib", "opencv-python-headless", "pillow", "numpy", "tensorflow")
WAIT_FOR_WORKERS_SECONDS = 60.0
IN_FLIGHT_PER_WORKER = 2

Items = list[tuple[str, str]]  # (photo path, photo sha256), a chunk of the faces stage's work
Detect = Callable[..., list[tuple[str, Any]]]  # detect(items, folder=...) -> [(sha, PhotoResult)]


def scheduler_address() -> str | None:
    """FACEOPS_DASK_SCHEDULER when set (tcp://HOST:PORT), else None."""
    given = os.environ.get(SCHEDULER_VARIABLE, "").strip()
    if not given:
        return None
    if not _ADDRESS.fullmatch(given):
        raise FaceopsError(f"{SCHEDULER_VARIABLE} is {given!r}; allowed: tcp://HOST:PORT (a Dask scheduler)")
    return given


def map_photo_chunks(detect: Detect, chunks: Sequence[Items], workers: int, folder: str | Path) -> Iterator[list]:
    """`detect(chunk)` for each chunk, yielded as each finishes: on the Dask cluster of FACEOPS_DASK_SCHEDULER
    when set, else across `workers` local processes. `detect` writes each face's crop as `folder/SHA.png`; on
    the cluster it writes them in a worker's scratch folder and they are written here from the bytes it returns."""
    address = scheduler_address()
    if address is None:
        yield from map_chunks(detect, chunks, workers)
        return
    yield from _on_cluster(address, detect, chunks, Path(folder))


def local_versions() -> dict[str, str]:
    """What a worker must match: faceops' version and a digest of its source, and the imaging/ML packages."""
    versions = {"faceops": _version("faceops"), "faceops-source": _source_digest()}
    return {**versions, **{name: _version(name) for name in CHECKED_PACKAGES}}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _source_digest() -> str:
    package = Path(__file__).resolve().parents[1]  # the whole faceops package, every layer
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def check_workers(client: Any) -> int:
    """The number of workers, after checking that each runs what this client runs (FaceopsError if not)."""
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
    except TimeoutError:
        raise FaceopsError(
            f"{SCHEDULER_VARIABLE} {client.scheduler.address}: no Dask worker joined within "
            f"{WAIT_FOR_WORKERS_SECONDS:.0f} s; start some with `dask worker {client.scheduler.address}`"
        ) from None
    mine = local_versions()
    for worker, theirs in sorted(client.run(local_versions).items()):
        wrong = [
            f"{name} {theirs.get(name, 'absent')} (here {value})"
            for name, value in mine.items()
            if theirs.get(name) != value
        ]
        if wrong:
            raise FaceopsError(
                f"Dask worker {worker} runs {', '.join(wrong)}; allowed: the same faceops, dlib, OpenCV, Pillow, "
                "NumPy and TensorFlow as this client (install the same versions on every worker)"
            )
    return len(client.scheduler_info()["workers"])


def detect_from_bytes(detect: Detect, chunk: list[tuple[str, str, bytes]]) -> list[tuple[str, Any, bytes]]:
    """On a worker: the photos written to a scratch folder under their own names, `detect` run on them as the
    local run would, and each result returned with its crop's bytes (b"" when no face)."""
    with tempfile.TemporaryDirectory(prefix="faceops-task-") as scratch:
        crops = Path(scratch) / "crops"
        crops.mkdir()
        items = []
        for index, (name, sha, data) in enumerate(chunk):
            photo = Path(scratch) / str(index) / name
            photo.parent.mkdir()
            photo.write_bytes(data)
            items.append((str(photo), sha))
        results = detect(items, folder=str(crops))
        return [
            (sha, result, (crops / f"{sha}.png").read_bytes() if result.status == "face" else b"")
            for sha, result in results
        ]


def _with_bytes(chunk: Items) -> list[tuple[str, str, bytes]]:
    return [(Path(path).name, sha, Path(path).read_bytes()) for path, sha in chunk]


def _on_cluster(address: str, detect: Detect, chunks: Sequence[Items], folder: Path) -> Iterator[list]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise FaceopsError(f"{SCHEDULER_VARIABLE} is set but dask.distributed is not installed") from None
    try:
        client = Client(address, timeout=WAIT_FOR_WORKERS_SECONDS)
    except OSError as exc:
        raise FaceopsError(f"{SCHEDULER_VARIABLE} {address}: cannot reach the Dask scheduler ({exc})") from None
    try:
        workers = check_workers(client)
        log.info("faces: %d chunks on the Dask cluster at %s, %d workers", len(chunks), address, workers)
        pending = list(reversed(chunks))
        running = as_completed()
        while pending and running.count() < IN_FLIGHT_PER_WORKER * workers:
            running.add(client.submit(detect_from_bytes, detect, _with_bytes(pending.pop()), pure=False))
        for future in running:
            results = []
            for sha, result, png in future.result():
                if png:
                    with atomic_path(folder / f"{sha}.png") as tmp:
                        tmp.write_bytes(png)
                results.append((sha, result))
            future.release()
            if pending:
                running.add(client.submit(detect_from_bytes, detect, _with_bytes(pending.pop()), pure=False))
            yield results
    finally:
        client.close()
