"""The faces stage's per-photo work on a Dask cluster, when FACEOPS_DASK_SCHEDULER names one.

Tasks carry the photos' bytes and bring back the crops' bytes, so workers need no shared file system; the
client writes the crops where the local run would, so the outputs are byte for byte the same. The cluster's
mechanics (connection, the workers' versions, chunks in flight, a worker lost) are `faceops.core.cluster`'s,
shared with the feature cache. Without the variable, `faceops.core.parallel.map_chunks` runs the work on this
host's processes as before.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from faceops.core.atomic import atomic_path
from faceops.core.cluster import map_on_cluster, scheduler_address
from faceops.core.parallel import map_chunks

Items = list[tuple[str, str]]  # (photo path, photo sha256), a chunk of the faces stage's work
Detect = Callable[..., list[tuple[str, Any]]]  # detect(items, folder=...) -> [(sha, PhotoResult)]


def map_photo_chunks(detect: Detect, chunks: Sequence[Items], workers: int, folder: str | Path) -> Iterator[list]:
    """`detect(chunk)` for each chunk, yielded as each finishes: on the Dask cluster of FACEOPS_DASK_SCHEDULER
    when set, else across `workers` local processes. `detect` writes each face's crop as `folder/SHA.png`; on
    the cluster it writes them in a worker's scratch folder and they are written here from the bytes it returns."""
    address = scheduler_address()
    if address is None:
        yield from map_chunks(detect, chunks, workers)
        return
    for shipped in map_on_cluster(address, partial(detect_from_bytes, detect), chunks, _with_bytes, "faces"):
        results = []
        for sha, result, png in shipped:
            if png:
                with atomic_path(Path(folder) / f"{sha}.png") as tmp:
                    tmp.write_bytes(png)
            results.append((sha, result))
        yield results


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
