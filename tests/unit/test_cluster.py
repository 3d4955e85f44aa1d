"""faceops.core.cluster, the Dask mechanics the faces stage and the feature cache share, on an in-process Dask
scheduler (and worker): its one-line errors, and chunks shipped a few at a time, not all at once."""

from __future__ import annotations

import logging
import socket

import pytest

from faceops.core import cluster
from faceops.core.errors import FaceopsError

distributed = pytest.importorskip("distributed")


def in_process_cluster(workers: int):
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None, protocol="tcp://"
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def square_all(numbers: list[int]) -> list[int]:
    return [n * n for n in numbers]


def test_a_bad_address_names_the_variable_and_the_form(monkeypatch):
    monkeypatch.setenv(cluster.SCHEDULER_VARIABLE, "localhost:8786")
    with pytest.raises(FaceopsError, match=r"^FACEOPS_DASK_SCHEDULER is 'localhost:8786'; allowed: tcp://HOST:PORT"):
        cluster.scheduler_address()


def test_no_scheduler_at_the_address_is_one_line(monkeypatch):
    monkeypatch.setattr(cluster, "WAIT_FOR_WORKERS_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(FaceopsError) as refused:
        list(cluster.map_on_cluster(address, square_all, [[1]], list, "faces"))
    message = str(refused.value)
    assert message.startswith(f"FACEOPS_DASK_SCHEDULER {address}: cannot reach the Dask scheduler (")
    assert "\n" not in message


def test_a_scheduler_without_workers_says_how_to_start_one(monkeypatch):
    monkeypatch.setattr(cluster, "WAIT_FOR_WORKERS_SECONDS", 1.0)
    with in_process_cluster(0) as empty:
        address = empty.scheduler_address
        with pytest.raises(FaceopsError) as refused:
            list(cluster.map_on_cluster(address, square_all, [[1]], list, "faces"))
    assert str(refused.value) == (
        f"FACEOPS_DASK_SCHEDULER {address}: no Dask worker joined within 1 s; start some with `dask worker {address}`"
    )


def test_every_chunk_comes_back_and_few_are_shipped_ahead(caplog):
    """What travels is made when its chunk is submitted: with one worker, at most two chunks ahead of the results."""
    chunks = [[n, n + 1] for n in range(0, 40, 2)]
    shipped: list[list[int]] = []

    def ship(chunk: list[int]) -> list[int]:
        shipped.append(chunk)
        return list(chunk)

    caplog.set_level(logging.INFO, logger="faceops")
    results, ahead = [], []
    with in_process_cluster(1) as one:
        for result in cluster.map_on_cluster(one.scheduler_address, square_all, chunks, ship, "features (original)"):
            results.append(result)
            ahead.append(len(shipped) - len(results))
        address = one.scheduler_address
    assert sorted(results) == sorted(square_all(chunk) for chunk in chunks)
    assert max(ahead) <= cluster.IN_FLIGHT_PER_WORKER
    assert f"features (original): 20 chunks on the Dask cluster at {address}, 1 workers" in caplog.text
