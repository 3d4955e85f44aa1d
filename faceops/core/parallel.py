"""Worker processes for the CPU-bound loops (face detection, dlib descriptors).

Measured before choosing processes: dlib's descriptor and OpenCV's Haar detector called from two
threads run no faster than from one here (dlib holds the GIL), so the work goes to processes.
They are started with `spawn`: a forked copy of a process that already runs TensorFlow's
thread pools can deadlock.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TypeVar

from faceops.core.errors import FaceopsError

WORKERS_VARIABLE = "FACEOPS_WORKERS"


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """FACEOPS_WORKERS if set (1 = no worker processes), else every core this process may use."""
    given = os.environ.get(WORKERS_VARIABLE, "").strip()
    if not given:
        return available_cores()
    if not given.isdigit() or int(given) < 1:
        raise FaceopsError(f"{WORKERS_VARIABLE} is {given!r}; allowed: a whole number of processes, at least 1")
    return int(given)


def process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


Chunk = TypeVar("Chunk")
Result = TypeVar("Result")


def map_chunks(function: Callable[[Chunk], Result], chunks: Sequence[Chunk], workers: int) -> Iterator[Result]:
    """`function(chunk)` for each chunk, yielded as each finishes: in this process when `workers` is 1, else
    across that many worker processes with two chunks per worker in flight (so a caller that stops early,
    or is interrupted, leaves little work behind; what has not started is cancelled)."""
    if workers <= 1:
        for chunk in chunks:
            yield function(chunk)
        return
    pool = process_pool(workers)
    try:
        pending, running = list(reversed(chunks)), set()
        while pending or running:
            while pending and len(running) < 2 * workers:
                running.add(pool.submit(function, pending.pop()))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
