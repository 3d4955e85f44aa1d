"""Chunks of per-photo work on a Dask cluster, when FACEOPS_DASK_SCHEDULER names one: the mechanics that the faces
stage (detect and crop) and the feature cache (embed) share.

The client connects (one-line errors naming the variable), checks that every worker runs the same faceops (version
and source), dlib, OpenCV, Pillow, NumPy and TensorFlow as itself, keeps a few chunks per worker in flight (so
the bytes shipped stay bounded however many photos there are), yields each chunk's result as it finishes and
releases it. A worker that dies mid-run costs only time: Dask runs its tasks again on the others. Callers ship
the photos' bytes in and their results out, so workers need no shared file system.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from faceops.core.errors import FaceopsError

log = logging.getLogger(__name__)

SCHEDULER_VARIABLE = "FACEOPS_DASK_SCHEDULER"
_ADDRESS = re.compile(r"tcp://[A-Za-z0-9.\-\[\]:]+:\d{1,5}")
CHECKED_PACKAGES = ("dlib-bin", "dlib", "opencv-python-headless", "pillow", "numpy", "tensorflow")
WAIT_FOR_WORKERS_SECONDS = 60.0
IN_FLIGHT_PER_WORKER = 2

Chunk = TypeVar("Chunk")
Shipped = TypeVar("Shipped")
Result = TypeVar("Result")


def scheduler_address() -> str | None:
    """FACEOPS_DASK_SCHEDULER when set (tcp://HOST:PORT), else None."""
    given = os.environ.get(SCHEDULER_VARIABLE, "").strip()
    if not given:
        return None
    if not _ADDRESS.fullmatch(given):
        raise FaceopsError(f"{SCHEDULER_VARIABLE} is {given!r}; allowed: tcp://HOST:PORT (a Dask scheduler)")
    return given


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


def map_on_cluster(
    address: str,
    function: Callable[[Shipped], Result],
    chunks: Sequence[Chunk],
    ship: Callable[[Chunk], Shipped],
    what: str,
) -> Iterator[Result]:
    """`function(ship(chunk))` for each chunk as a task on the Dask cluster at `address`, yielded as each finishes.

    `ship` makes what travels (the photos' bytes, read here) just before its chunk is submitted; `function` must
    be importable on the workers (a module-level function, or a partial of one). The log names the scheduler and
    the number of workers, after `what` (the stage's word for the work)."""
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
        log.info("%s: %d chunks on the Dask cluster at %s, %d workers", what, len(chunks), address, workers)
        pending = list(reversed(chunks))
        running = as_completed()
        while pending and running.count() < IN_FLIGHT_PER_WORKER * workers:
            running.add(client.submit(function, ship(pending.pop()), pure=False))
        for future in running:
            result = future.result()
            future.release()
            if pending:
                running.add(client.submit(function, ship(pending.pop()), pure=False))
            yield result
    finally:
        client.close()
