"""Chunked open-set scoring (faceops.model.scoring) and the rotation read off it (faceops.model.rotation) give the
numbers of the dense faces x people matrix, written out below as a small reference, with memory bounded by the
chunk; bench/scale.py runs end to end on a small case."""

from __future__ import annotations

import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.model.rotation import (
    cross_validated_false_accepts,
    held_out_distances,
    neighbours_needed,
    people_folds,
    rotation_evidence,
)
from faceops.model.scoring import (
    STRANGER,
    PersonStreams,
    calibrate,
    centroids_chunked,
    score_faces,
)


# The dense reference: the whole faces x people matrix, each rule written out plainly.
def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def dense_centroids(features, labels, n_people):
    return unit(np.stack([unit(features[labels == person]).mean(axis=0) for person in range(n_people)]))


def dense_distances(features, centroids):
    return 1.0 - unit(features) @ unit(centroids).T


def dense_threshold(impostor, genuine, target_far):
    ordered = np.sort(impostor[np.isfinite(impostor)])
    allowed = int(np.floor(target_far * len(ordered)))
    threshold = ordered[allowed] - 1e-6 if allowed < len(ordered) else ordered[-1]
    threshold = min(max(threshold, 1e-6), 2.0)
    frr = np.mean(genuine > threshold) if len(genuine) else 0.0
    return threshold, np.mean(ordered <= threshold), frr, len(ordered)


def dense_person_thresholds(threshold, rejected, own, own_labels, n_people, max_person_frr):
    thresholds, floored = [threshold] * n_people, []
    for person in sorted({person for person, _ in rejected}):
        closest = min(distance for who, distance in rejected if who == person)
        mine = np.sort(own[own_labels == person])
        keep = int(np.ceil((1 - max_person_frr) * len(mine)))
        floor = mine[keep - 1] if keep > 0 else 1e-6
        if closest - 1e-6 < floor:
            floored.append(person)
        thresholds[person] = min(threshold, max(closest - 1e-6, floor, 1e-6))
    return thresholds, floored


def dense_drift(genuine, labels, n_people, threshold):
    """Per person: median held-out distance and share beyond the threshold; everyone's for a person without any."""
    medians, shares = [], []
    for person in range(n_people):
        mine = genuine[labels == person] if (labels == person).any() else genuine
        medians.append(np.median(mine))
        shares.append(np.mean(mine > threshold))
    return medians, shares


def dense_held_out(distances, labels, folds):
    result = np.full(len(labels), np.inf)
    for fold in folds:
        rows = np.isin(labels, fold)
        result[rows] = np.delete(distances[rows], list(fold), axis=1).min(axis=1)
    return result


def dense_false_accepts(strangers, folds, target_far):
    measured, accepted = 0, 0
    for fold in np.unique(folds):
        mine = folds == fold
        if not np.isfinite(strangers[~mine]).any():
            continue
        threshold = dense_threshold(strangers[~mine], np.array([]), target_far)[0]
        measured, accepted = measured + mine.sum(), accepted + np.sum(strangers[mine] <= threshold)
    return measured, accepted


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
    centroids = centroids_chunked(features, labels, 23)
    dense = dense_distances(features, centroids)
    for chunk, k in ((7, 4), (64, 20), (None, 23)):  # k of 16 or fewer: rounds of argmin; more: argpartition
        scores = score_faces(features, labels, centroids, k=k, chunk=chunk)
        np.testing.assert_allclose(scores.own[known], dense[known.nonzero()[0], labels[known]], atol=1e-5)
        assert np.all(np.isinf(scores.own[~known])) and scores.n_people == 23
        np.testing.assert_array_equal(scores.top_people[:, 0], dense.argmin(axis=1))
        np.testing.assert_allclose(scores.top_distances, np.sort(dense, axis=1)[:, :k], atol=1e-5)


def test_streamed_centroids_equal_the_dense_ones():
    features, labels = clusters(500, 31, strangers=10)
    known = labels >= 0
    np.testing.assert_allclose(
        centroids_chunked(features, labels, 31, chunk=33),
        dense_centroids(features[known], labels[known], 31),
        atol=1e-6,
    )


@pytest.mark.parametrize("per_fold", [1, 2, 5])
def test_the_rotation_equals_the_dense_one(per_fold):
    """Held-out distances read off each face's k closest people, and the cross-validated false accepts from one
    sort, equal the dense rotation (np.delete of the fold's columns; one threshold per fold from its own sort)."""
    features, labels = clusters(600, 23, strangers=25, seed=per_fold)
    centroids = centroids_chunked(features, labels, 23)
    folds = people_folds([f"p{i}" for i in range(23)], per_fold, seed=7)
    scores = score_faces(features, labels, centroids, k=neighbours_needed(folds, 23), chunk=64)
    dense = dense_distances(features, centroids)
    np.testing.assert_allclose(held_out_distances(scores, labels, folds), dense_held_out(dense, labels, folds), 1e-5)
    negatives = dense[labels < 0].min(axis=1)
    evidence = rotation_evidence(scores, labels, folds, negatives, 0.05)
    fold_of = np.full(len(labels), -1)
    for number, fold in enumerate(folds):
        fold_of[np.isin(labels, fold)] = number
    strangers = np.concatenate([dense_held_out(dense, labels, folds)[fold_of >= 0], negatives])
    fold_ids = np.concatenate([fold_of[fold_of >= 0], np.arange(len(negatives)) % len(folds)])
    np.testing.assert_allclose(np.sort(evidence.impostor), np.sort(strangers), atol=1e-5)
    count = evidence.strangers
    assert (count.stranger_faces, count.false_accepts) == dense_false_accepts(strangers, fold_ids, 0.05)
    assert count.folds == len(folds)


def test_cross_validated_false_accepts_with_ties_and_infinities():
    rng = np.random.default_rng(5)
    strangers = np.round(rng.uniform(0.1, 0.9, 300), 2)  # many equal values, across folds
    strangers[rng.choice(300, 20, replace=False)] = np.inf
    folds = rng.integers(0, 9, 300)
    folds[folds == 4] = 3  # a fold number missing in the middle
    strangers[folds == 8] = np.inf  # a fold that is all infinite: calibrated on the others, never accepted
    for target in (0.0, 0.01, 0.2, 1.0):
        count = cross_validated_false_accepts(strangers, folds, np.array([]), target)
        assert (count.stranger_faces, count.false_accepts) == dense_false_accepts(strangers, folds, target)
        assert count.folds == 8
    alone = cross_validated_false_accepts(np.array([0.3, np.inf]), np.array([0, 1]), np.array([]), 0.5)
    assert (alone.stranger_faces, alone.false_accepts) == (1, 0)  # fold 0's pool holds nothing finite


def test_thresholds_equal_the_dense_rules():
    features, labels = clusters(600, 20, strangers=40, seed=3)
    known = labels >= 0
    centroids = centroids_chunked(features, labels, 20)
    held_out = (np.arange(len(labels)) % 5 == 0) & known
    rejected = [(2, 0.05), (2, 0.3), (7, 0.4)]
    scores = score_faces(features, labels, centroids, k=3, chunk=50)
    dense = dense_distances(features, centroids)
    impostor = np.concatenate([dense[~known].min(axis=1), [d for _, d in rejected]])
    result = calibrate(scores, labels, held_out, impostor, target_far=0.05, max_person_frr=0.3, rejected=rejected)

    genuine = dense[held_out.nonzero()[0], labels[held_out]]
    threshold, far, frr, count = dense_threshold(impostor, genuine, 0.05)
    assert result.threshold == pytest.approx(threshold, abs=2e-6)
    assert (result.far, result.frr, result.impostors) == pytest.approx((far, frr, count))
    own = dense[known.nonzero()[0], labels[known]]
    per_person, floored = dense_person_thresholds(threshold, rejected, own, labels[known], 20, 0.3)
    np.testing.assert_allclose(result.person_thresholds, per_person, atol=2e-6)
    assert list(result.floored) == floored
    medians, shares = dense_drift(genuine, labels[held_out], 20, threshold)
    np.testing.assert_allclose(result.median_distance, medians, atol=2e-6)
    np.testing.assert_allclose(result.unknown_share, shares, atol=2e-6)
    assert calibrate(scores, labels, held_out, impostor, 0.05).person_thresholds == ()  # no rejections


def test_person_streams_with_empty_people():
    streams = PersonStreams.group(np.array([0.5, 0.1, 0.3, 0.9]), np.array([3, 0, 3, 3]), 5)
    assert streams.of(3).tolist() == [0.3, 0.5, 0.9]
    assert streams.of(1).tolist() == []
    np.testing.assert_array_equal(streams.medians(), [0.1, np.nan, np.nan, 0.5, np.nan])
    np.testing.assert_array_equal(streams.share_above(0.4), [0.0, np.nan, np.nan, 2 / 3, np.nan])


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
    folds = [[0, 1], [2, 3]]
    with pytest.raises(
        FaceopsError, match=r"the 2 closest people kept per face are all in the face's fold; allowed: at least 3"
    ):
        held_out_distances(score_faces(features, labels, centroids, k=2), labels, folds)
