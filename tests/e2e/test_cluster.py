"""The faces stage and the feature cache on a real Dask cluster (`dask scheduler` and two `dask worker` processes on
127.0.0.1): the same crops, manifest and report, and the same dlib features to the byte, as the local run, even
when a worker is killed (-9) half-way; and the same `dvc repro` of a whole project (the faces outputs' hashes in
dvc.lock, the metrics), with the crops and the features computed on the workers."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import free_port, make_project, sh, tool_env

from faceops.core import cluster
from faceops.core.errors import FaceopsError
from faceops.data.faces import extract_faces
from faceops.model.backbones import get_backbone
from faceops.model.features import FaceFile, FeatureCache

DASK = str(Path(sys.executable).parent / "dask")
PEOPLE = ["Colin_Powell", "Donald_Rumsfeld", "Tony_Blair", "Gerhard_Schroeder"]


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two workers (no nanny, so kill -9 ends a worker for good); (address, worker processes)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    started = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    for name in ("w1", "w2"):
        command = [DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        started.append(
            subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--local-directory", str(tmp_path / name)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
    from distributed import Client

    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, started[1:]
    finally:
        for process in reversed(started):  # only the processes this fixture started
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def raw(tmp_path, lfw):
    folder = tmp_path / "raw"
    for person in PEOPLE:
        (folder / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:24]:
            shutil.copy(photo, folder / person / photo.name)
    (folder / "Tony_Blair" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return folder


def snapshot(out: Path, result) -> dict:
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return {"files": files, "manifest": result.manifest, "report": result.report}


def test_cluster_run_equals_local_run_when_a_worker_dies(tmp_path, raw, dask_cluster, monkeypatch, caplog):
    out = tmp_path / "faces"
    monkeypatch.delenv(cluster.SCHEDULER_VARIABLE, raising=False)
    local = snapshot(out, extract_faces(raw, out, 96, cache_dir=tmp_path / "cache-local", workers=1))
    shutil.rmtree(out)
    assert len(local["files"]) > 80

    address, workers = dask_cluster
    monkeypatch.setenv(cluster.SCHEDULER_VARIABLE, address)
    caplog.set_level(logging.INFO, logger="faceops")
    outcome: dict = {}
    run = threading.Thread(
        target=lambda: outcome.update(result=extract_faces(raw, out, 96, cache_dir=tmp_path / "cache-cluster")),
        daemon=True,
    )
    run.start()
    crops = tmp_path / "cache-cluster"
    deadline = time.monotonic() + 300
    while len(list(crops.rglob("*.png"))) < 20 and run.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.is_alive(), "the run ended before a worker could be killed half-way"
    os.kill(workers[0].pid, signal.SIGKILL)
    run.join(timeout=600)
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert "result" in outcome, "the cluster run did not finish"
    assert snapshot(out, outcome["result"]) == local
    assert f"on the Dask cluster at {address}, 2 workers" in caplog.text


def test_dlib_features_on_the_cluster_equal_the_local_ones_when_a_worker_dies(
    tmp_path, raw, dask_cluster, monkeypatch, caplog
):
    """The train stage's feature cache with dlib's descriptor (computed from the source photo, whose bytes the tasks
    carry): the vectors and the cache file are byte for byte the local run's, though a worker is killed half-way."""
    monkeypatch.delenv(cluster.SCHEDULER_VARIABLE, raising=False)
    faces = FaceFile.rows(pd.DataFrame(extract_faces(raw, tmp_path / "faces", 96, workers=1).manifest))
    assert len(faces) > 80
    extractor = get_backbone("dlib_resnet").build(None, 96, 0, 0.2)
    local = FeatureCache(tmp_path / "features-local", batch_size=4, workers=1).features(extractor, faces)

    address, workers = dask_cluster
    monkeypatch.setenv(cluster.SCHEDULER_VARIABLE, address)
    caplog.set_level(logging.INFO, logger="faceops")
    cache_dir = tmp_path / "features-cluster"
    outcome: dict = {}
    cache = FeatureCache(cache_dir, batch_size=4, save_every=4)
    run = threading.Thread(target=lambda: outcome.update(features=cache.features(extractor, faces)), daemon=True)
    run.start()
    deadline = time.monotonic() + 300
    while not list(cache_dir.glob("*.npz")) and run.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.is_alive(), "the run ended before a worker could be killed half-way"
    os.kill(workers[0].pid, signal.SIGKILL)
    run.join(timeout=600)
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert "features" in outcome, "the cluster run did not finish"
    assert outcome["features"].tobytes() == local.tobytes()
    [local_file] = (tmp_path / "features-local").glob("*.npz")
    assert [path.name for path in cache_dir.glob("*.npz")] == [local_file.name]  # the same cache key
    with np.load(local_file) as expected, np.load(cache_dir / local_file.name) as got:
        assert all(np.array_equal(expected[name], got[name]) for name in ("sha256", "features", "checksum"))
    chunks = -(-len({face.sha256 for face in faces}) // 4)
    assert f"features (original): {chunks} chunks on the Dask cluster at {address}, 2 workers" in caplog.text
    assert f"computed on the Dask cluster at {address}" in caplog.text


def faces_outputs(project: Path) -> dict:
    """The faces stage's outputs and metrics as dvc.lock records them: path -> content hash."""
    stage = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["faces"]
    return {out["path"]: out["md5"] for out in stage["outs"]}


def test_dvc_repro_on_the_cluster_equals_the_local_run(tmp_path, lfw, dask_cluster):
    """`FACEOPS_DASK_SCHEDULER=... dvc repro --force` of a small project, with the crop and feature caches emptied so
    that every photo and every face goes to the workers: the faces outputs' hashes in dvc.lock and the candidate's
    metrics are the local run's, and the log names the cluster for the crops and for the features."""
    address, _ = dask_cluster
    project = make_project(tmp_path / "repo", lfw, train={"backbone": "dlib_resnet", "epochs": 30})
    env = {key: value for key, value in tool_env().items() if key != cluster.SCHEDULER_VARIABLE}
    local = sh("dvc", "repro", cwd=project, env=env)
    assert "on the Dask cluster" not in local.stderr + local.stdout
    local_faces = faces_outputs(project)
    assert {"data/faces", "data/faces.csv", "reports/faces.csv"} <= set(local_faces)
    local_metrics = json.loads((project / "metrics/candidate.json").read_text())

    shutil.rmtree(project / ".faceops/crops")  # else the faces stage takes every crop from its cache
    shutil.rmtree(project / ".faceops/features")  # else every stage takes every feature from its cache
    on_cluster = subprocess.run(
        ["dvc", "repro", "--force"],
        cwd=project,
        env=env | {cluster.SCHEDULER_VARIABLE: address},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = on_cluster.stdout + on_cluster.stderr
    assert on_cluster.returncode == 0, output[-3000:]
    assert re.search(rf"faces: \d+ chunks on the Dask cluster at {address}, 2 workers", output)
    assert re.search(rf"features \(original\): \d+ chunks on the Dask cluster at {address}, 2 workers", output)
    assert re.search(rf"features \(original\): \d+ computed on the Dask cluster at {address}", output)
    assert list((project / ".faceops/crops").rglob("*.png")), "the crops were not made again"
    assert faces_outputs(project) == local_faces
    on_cluster_metrics = json.loads((project / "metrics/candidate.json").read_text())
    assert on_cluster_metrics["accuracy"] == local_metrics["accuracy"]
    assert on_cluster_metrics == local_metrics


def test_workers_with_other_versions_are_refused(tmp_path, raw, dask_cluster, monkeypatch):
    """The client's own numpy version is made to differ (the workers run the real one)."""
    address, _ = dask_cluster
    real = cluster._version
    monkeypatch.setattr(cluster, "_version", lambda name: "0.0-test" if name == "numpy" else real(name))
    monkeypatch.setenv(cluster.SCHEDULER_VARIABLE, address)
    with pytest.raises(FaceopsError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ runs numpy [\d.]+ \(here 0\.0-test\)"):
        extract_faces(raw, tmp_path / "faces", 96, cache_dir=tmp_path / "cache")


def test_a_bad_scheduler_address_names_the_variable(tmp_path, raw, monkeypatch):
    monkeypatch.setenv(cluster.SCHEDULER_VARIABLE, "localhost:8786")
    with pytest.raises(FaceopsError, match=r"FACEOPS_DASK_SCHEDULER is 'localhost:8786'; allowed: tcp://HOST:PORT"):
        extract_faces(raw, tmp_path / "faces", 96, cache_dir=tmp_path / "cache")
