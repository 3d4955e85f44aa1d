"""Chunked open-set scoring (faceops.model.scoring) gives the numbers of the dense faces x people path in
faceops.model.train, with memory bounded by the chunk; bench/scale.py runs end to end on a small case."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.model.recogniser import centroid_distances, person_centroids
from faceops.model.scoring import (
    STRANGER,
    PersonStreams,
    calibrate,
    centroids_chunked,
    score_faces,
)
from faceops.model.train import calibrate_unknown, drift_baseline, nearest_other_distances, person_thresholds

ROOT = Path(__file__).resolve().parents[1]


def clusters(faces: int, people: int, dim: int = 16, strangers: int = 0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people + max(strangers, 1), dim))
    labels = np.concatenate([np.arange(faces) % people, np.full(strangers, STRANGER)])
    owner = np.where(labels >= 0, labels, people + rng.integers(0, max(strangers, 1), len(labels)))
    features = (centres[owner] + rng.normal(scale=0.6, size=(len(labels), dim))).astype(np.float32)
    return features, labels


def test_scores_equal_the_dense_matrix_whatever_the_chunk():
    features, labels = clusters(400, 23, strangers=30)
    known = labels >= 0
    centroids = person_centroids(features[known], labels[known], 23)
    dense = centroid_distances(features, centroids)
    for chunk, k in ((7, 4), (64, 20), (None, 23)):  # k of 16 or fewer: rounds of argmin; more: argpartition
        scores = score_faces(features, labels, centroids, k=k, chunk=chunk)
        np.testing.assert_allclose(scores.own[known], dense[known.nonzero()[0], labels[known]], atol=1e-5)
        assert np.all(np.isinf(scores.own[~known]))
        np.testing.assert_allclose(
            scores.nearest_other[known], nearest_other_distances(dense[known], labels[known]), atol=1e-5
        )
        np.testing.assert_allclose(scores.nearest_other[~known], dense[~known].min(axis=1), atol=1e-5)
        np.testing.assert_array_equal(scores.top_people[:, 0], dense.argmin(axis=1))
        np.testing.assert_allclose(scores.top_distances, np.sort(dense, axis=1)[:, :k], atol=1e-5)


def test_streamed_centroids_equal_the_dense_ones():
    features, labels = clusters(500, 31, strangers=10)
    known = labels >= 0
    np.testing.assert_allclose(
        centroids_chunked(features, labels, 31, chunk=33),
        person_centroids(features[known], labels[known], 31),
        atol=1e-6,
    )


def test_thresholds_equal_the_training_rules():
    features, labels = clusters(600, 20, strangers=40, seed=3)
    known = labels >= 0
    centroids = centroids_chunked(features, labels, 20)
    held_out = (np.arange(len(labels)) % 5 == 0) & known
    rejected = [(2, 0.05), (2, 0.3), (7, 0.4)]
    scores = score_faces(features, labels, centroids, k=3, chunk=50)
    result = calibrate(scores, labels, 20, held_out, target_far=0.05, max_person_frr=0.3, rejected=rejected)

    dense = centroid_distances(features, centroids)
    impostor = np.concatenate([nearest_other_distances(dense[known], labels[known]), dense[~known].min(axis=1)])
    impostor = np.concatenate([impostor, [d for _, d in rejected]])
    genuine = dense[held_out.nonzero()[0], labels[held_out]]
    expected = calibrate_unknown(impostor, genuine, 0.05)
    assert result.threshold == pytest.approx(round(expected.threshold, 6), abs=2e-6)
    assert (result.far, result.frr, result.impostors) == pytest.approx((expected.far, expected.frr, expected.impostors))
    own = dense[known.nonzero()[0], labels[known]]
    per_person, floored = person_thresholds(expected.threshold, rejected, own, labels[known], 20, 0.3)
    np.testing.assert_allclose(result.person_thresholds, per_person, atol=2e-6)
    assert list(result.floored) == floored
    baseline = drift_baseline(genuine, labels[held_out], 20, expected.threshold)
    np.testing.assert_allclose(result.median_distance, baseline["median_distance"], atol=2e-6)
    np.testing.assert_allclose(result.unknown_share, baseline["unknown_share"], atol=2e-6)


def test_person_streams_with_empty_people():
    streams = PersonStreams.group(np.array([0.5, 0.1, 0.3, 0.9]), np.array([3, 0, 3, 3]), 5)
    assert streams.of(3).tolist() == [0.3, 0.5, 0.9]
    assert streams.of(1).tolist() == []
    np.testing.assert_array_equal(streams.medians(), [0.1, np.nan, np.nan, 0.5, np.nan])
    np.testing.assert_array_equal(streams.share_above(0.4), [0.0, np.nan, np.nan, 2 / 3, np.nan])


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


def test_bad_inputs_say_what_is_allowed():
    features, labels = clusters(40, 4)
    centroids = centroids_chunked(features, labels, 4)
    with pytest.raises(FaceopsError, match=r"k is 9; allowed: 1 to the number of people \(4\)"):
        score_faces(features, labels, centroids, k=9)
    with pytest.raises(FaceopsError, match=r"labels span 0 to 7; allowed: -1 \(a stranger\) to 3"):
        score_faces(features, np.where(labels == 3, 7, labels), centroids)
    with pytest.raises(FaceopsError, match="person 2 has no faces; each of the 5 people needs one"):
        centroids_chunked(features, np.where(labels == 2, 4, labels), 5)
    with pytest.raises(FaceopsError, match="features has 40 rows but labels has 39"):
        score_faces(features, labels[:-1], centroids)


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
    assert 0 < figures["threshold"] < 2
    assert figures["top1_accuracy"] > 0.9  # well-separated synthetic clusters
    assert any(line.startswith("| ") for line in lines)
