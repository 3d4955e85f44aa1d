"""Open-set scores and thresholds in chunks: memory grows with people x chunk, never with faces x people.

The full matrix of face-to-reference distances (faces x people) is 20 GB at 500,000 faces and 10,000 people.
Here the faces go through in chunks of rows; each chunk's distances are reduced at once to what calibration
needs (own distance, the k closest people), and per-person figures come from score streams grouped by person
(one flat sorted array and offsets), not from a pass over every face per person. Inputs: unit-free feature
rows, integer labels (-1 for a stranger, a face of nobody in the gallery), the references (`centroids_chunked`).
The train stage (`faceops.model.train.fit_open_set`) and `bench/scale.py` calibrate with these; the impostor
distances come from the rotation (`faceops.model.rotation`), which reads them off each face's k closest people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.model.recogniser import centroid_distances, unit_rows

DEFAULT_K = 5
MIN_TAIL_FIT = 5  # impostor faces the extended tail (far_threshold) needs at least
STRAY_PROOF_FROM = 10  # impostor faces from which the tail is anchored on the second smallest, not the smallest
STRANGER = -1  # the label of a face of nobody in the gallery
CHUNK_BUDGET_BYTES = 64 * 2**20  # one chunk's distance block; a few of these are alive at once


def chunk_rows(n_people: int, budget_bytes: int = CHUNK_BUDGET_BYTES) -> int:
    """Rows per chunk so that one chunk's float32 distances (rows x people) fit in `budget_bytes`."""
    return max(1, min(65536, budget_bytes // (4 * max(n_people, 1))))


def _chunks(n_rows: int, rows: int) -> Iterator[slice]:
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def centroids_chunked(features: np.ndarray, labels: np.ndarray, n_classes: int, chunk: int = 65536) -> np.ndarray:
    """One unit-length reference per person, the mean direction of their faces (rows labelled -1 are skipped), in
    one streaming pass of per-person sums: time and memory grow with faces + people, not faces x people."""
    sums, counts = _direction_sums(features, labels, n_classes, chunk)
    return unit_rows(sums / counts[:, None]).astype(np.float32)


def _direction_sums(
    features: np.ndarray, labels: np.ndarray, n_classes: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the sum of their faces' unit vectors and their number of faces, in one streaming pass."""
    if len(features) != len(labels):
        raise FaceopsError(f"features has {len(features)} rows but labels has {len(labels)}")
    sums = np.zeros((n_classes, features.shape[1]), dtype=np.float64)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes)
    if len(counts) > n_classes:
        raise FaceopsError(f"labels go up to {len(counts) - 1}; allowed: 0 to {n_classes - 1} (or -1, a stranger)")
    missing = np.flatnonzero(counts[:n_classes] == 0)
    if len(missing):
        raise FaceopsError(f"person {int(missing[0])} has no faces; each of the {n_classes} people needs one")
    for rows in _chunks(len(features), chunk):
        mine = labels[rows] >= 0
        np.add.at(sums, labels[rows][mine], unit_rows(np.asarray(features[rows][mine], dtype=np.float64)))
    return sums, counts


def left_out_distances(features: np.ndarray, labels: np.ndarray, n_classes: int, chunk: int = 65536) -> np.ndarray:
    """Each face's cosine distance to the reference of its person's other faces (leave one out), in two streaming
    passes. Why: the references are made from every training face, so a face's distance to its own reference is
    not what a new face of that person scores; this is, give or take one face in the reference. inf for a
    stranger (label -1) and for a person's only face."""
    sums, counts = _direction_sums(features, labels, n_classes, chunk)
    result = np.full(len(labels), np.inf)
    for rows in _chunks(len(features), chunk):
        mine = np.flatnonzero((labels[rows] >= 0) & (counts[np.maximum(labels[rows], 0)] > 1))
        faces = unit_rows(np.asarray(features[rows][mine], dtype=np.float64))
        others = unit_rows(sums[labels[rows][mine]] - faces)
        result[rows][mine] = 1.0 - np.sum(faces * others, axis=1)
    return result


@dataclass(frozen=True)
class FaceScores:
    """Per face: what calibration needs from its row of distances to every reference (cosine distances)."""

    own: np.ndarray  # to its own person's reference; inf for a stranger
    top_people: np.ndarray  # (faces, k): the k closest people, closest first
    top_distances: np.ndarray  # (faces, k)
    n_people: int  # references scored against


def score_faces(
    features: np.ndarray, labels: np.ndarray, centroids: np.ndarray, k: int | None = None, chunk: int | None = None
) -> FaceScores:
    """One pass over the faces in chunks of `chunk` rows (default: 64 MB of distances a chunk); `k` closest
    people kept per face (default 5, or everyone in a smaller gallery)."""
    n_people = len(centroids)
    k = min(DEFAULT_K, n_people) if k is None else k
    if not 1 <= k <= n_people:
        raise FaceopsError(f"k is {k}; allowed: 1 to the number of people ({n_people})")
    if len(features) != len(labels):
        raise FaceopsError(f"features has {len(features)} rows but labels has {len(labels)}")
    if len(labels) and (labels.max() >= n_people or labels.min() < STRANGER):
        raise FaceopsError(f"labels span {labels.min()} to {labels.max()}; allowed: -1 (a stranger) to {n_people - 1}")
    rows = chunk or chunk_rows(n_people)
    n = len(features)
    own = np.full(n, np.inf, dtype=np.float32)
    top_people = np.empty((n, k), dtype=np.int32)
    top_distances = np.empty((n, k), dtype=np.float32)
    references = np.asarray(centroids, dtype=np.float32)
    for part in _chunks(n, rows):
        distances = centroid_distances(np.asarray(features[part], dtype=np.float32), references)
        known = labels[part] >= 0
        own[part][known] = distances[np.flatnonzero(known), labels[part][known]]
        _top_k(distances, k, top_people[part], top_distances[part])
    return FaceScores(own, top_people, top_distances, n_people)


def _top_k(distances: np.ndarray, k: int, people: np.ndarray, values: np.ndarray) -> None:
    """The k smallest of each row, closest first, written into `people` and `values`. For a few (k <= 16),
    k rounds of argmin, each masking the one found and restoring them after: 7x faster than argpartition on
    10,000 columns (measured); `distances` is as it was afterwards."""
    rows = np.arange(len(distances))
    if k <= 16:
        for column in range(k):
            people[:, column] = distances.argmin(axis=1)
            values[:, column] = distances[rows, people[:, column]]
            distances[rows, people[:, column]] = np.inf
        for column in range(k):
            distances[rows, people[:, column]] = values[:, column]
        return
    candidates = np.argpartition(distances, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(distances, candidates, axis=1)
    order = np.argsort(picked, axis=1, kind="stable")
    people[:] = np.take_along_axis(candidates, order, axis=1)
    values[:] = np.take_along_axis(picked, order, axis=1)


@dataclass(frozen=True)
class PersonStreams:
    """Scores grouped by person, each group sorted ascending: person i's are `values[offsets[i]:offsets[i + 1]]`.
    Why: per-person figures in one sort of all scores instead of one scan of all scores per person."""

    values: np.ndarray
    offsets: np.ndarray  # n_people + 1

    @classmethod
    def group(cls, scores: np.ndarray, people: np.ndarray, n_people: int) -> PersonStreams:
        scores, people = np.asarray(scores, dtype=np.float64), np.asarray(people)
        order = np.lexsort((scores, people))
        counts = np.bincount(people, minlength=n_people)[:n_people]
        return cls(scores[order], np.concatenate([[0], np.cumsum(counts)]))

    @property
    def n_people(self) -> int:
        return len(self.offsets) - 1

    def of(self, person: int) -> np.ndarray:
        return self.values[self.offsets[person] : self.offsets[person + 1]]

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def medians(self) -> np.ndarray:
        """Each person's median (numpy's: the mean of the two middle values for an even count); nan if none."""
        counts, start = self.counts(), self.offsets[:-1]
        low = start + np.maximum(counts - 1, 0) // 2
        high = start + counts // 2
        safe = np.minimum(self.values.size - 1, np.stack([low, high]))
        if not self.values.size:
            return np.full(self.n_people, np.nan)
        middle = (self.values[safe[0]] + self.values[safe[1]]) / 2
        return np.where(counts > 0, middle, np.nan)

    def share_above(self, threshold: float) -> np.ndarray:
        """Each person's share of scores above `threshold`; nan if none."""
        counts = self.counts()
        beyond = np.concatenate([[0], np.cumsum(self.values > threshold)])
        above = beyond[self.offsets[1:]] - beyond[self.offsets[:-1]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, above / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Thresholds:
    """The open-set answer: one threshold, its error rates, and per-person figures (drift baseline, floors)."""

    threshold: float  # as calibrated; the card keeps it to 6 decimals
    far: float  # on the impostor distances
    frr: float  # on the genuine distances
    impostors: int
    person_thresholds: tuple[float, ...]  # () when there were no rejections
    floored: tuple[int, ...]  # people whose own faces held their threshold up (max_person_frr)
    median_distance: tuple[float, ...]
    unknown_share: tuple[float, ...]


def far_threshold(nth: Callable[[int], float], n: int, target_far: float) -> float:
    """The rule: the largest threshold that names no more than `target_far` of `n` impostors, given `nth(i)`, the
    i-th smallest of them (0-based): just below the one at rank floor(target_far * n), within 1e-6 and 2.

    Below 1 / target_far impostors (100 at 1 %) that rank is 0, and the smallest one stands for a rate of about
    1 / (n + 1), not the target: a family's 27 rotation faces would let 1 stranger in 28 through. There the tail is
    extended by a normal fit: from an anchor (the smallest, or from 10 faces on the second smallest, so that one
    stray photo, a face of someone else in a person's folder, cannot pull the threshold down to nothing) down by
    the normal quantiles between the anchor's expected rate and the target, in a spread read off the median and
    the lowest decile (robust to that stray too). Measured: bench/gallery_size.py, docs/benchmarks.md."""
    allowed = int(np.floor(target_far * n))  # impostors that may fall inside the threshold
    threshold = nth(allowed) - 1e-6 if allowed < n else nth(n - 1)
    if allowed == 0 and n >= MIN_TAIL_FIT and target_far > 0:
        anchor = 1 if n >= STRAY_PROOF_FROM else 0
        normal = NormalDist()
        spread = (nth(n // 2) - nth(n // 10)) / -normal.inv_cdf(0.1)
        shift = normal.inv_cdf((anchor + 1) / (n + 1)) - normal.inv_cdf(target_far)
        threshold = nth(anchor) - 1e-6 - max(shift, 0.0) * spread
    return min(max(threshold, 1e-6), 2.0)


def threshold_at_far(impostor: np.ndarray, genuine: np.ndarray, target_far: float) -> tuple[float, float, float, int]:
    """`far_threshold` on the finite impostor distances: (threshold, far, frr, impostors), far on the impostors
    and frr on the `genuine` distances (held-out known faces to their own reference). One sort: O(faces)."""
    ordered = np.sort(np.asarray(impostor, dtype=np.float64)[np.isfinite(impostor)])
    if not len(ordered):
        raise FaceopsError("the unknown threshold needs faces of at least 2 people")
    threshold = far_threshold(lambda i: float(ordered[i]), len(ordered), target_far)
    far = float(np.searchsorted(ordered, threshold, side="right") / len(ordered))
    frr = float(np.mean(np.asarray(genuine, dtype=np.float64) > threshold)) if len(genuine) else 0.0
    return threshold, far, frr, len(ordered)


def floored_thresholds(
    threshold: float, rejected: PersonStreams, own: PersonStreams, max_person_frr: float
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Per person: the global threshold, lowered below every face rejected as theirs ("not NAME"), but never so
    far that more than `max_person_frr` of their own faces (`own`, distances to their reference) fall outside
    it. Also returns the people whose floor held."""
    people = np.flatnonzero(rejected.counts() > 0)
    values = np.full(own.n_people, threshold)
    floored = []
    for person in people:
        closest = float(rejected.of(person)[0])
        mine = own.of(person)
        keep = int(np.ceil((1 - max_person_frr) * len(mine)))  # own faces that must stay inside
        floor = float(mine[keep - 1]) if keep > 0 else 1e-6
        wanted = closest - 1e-6
        if wanted < floor:
            floored.append(int(person))
        values[person] = min(threshold, max(wanted, floor, 1e-6))
    return tuple(round(float(value), 6) for value in values), tuple(floored)


def calibrate(
    scores: FaceScores,
    labels: np.ndarray,
    genuine_mask: np.ndarray,
    impostor: np.ndarray,
    target_far: float,
    max_person_frr: float = 0.2,
    rejected: Sequence[tuple[int, float]] = (),
) -> Thresholds:
    """Thresholds from chunked scores. `impostor`: distances of faces to references of people they are not (the
    rotation's strangers, `faceops.model.rotation.rotation_evidence`); genuine: the faces in `genuine_mask` (held
    out) to their own reference; `rejected`: (person, distance) of faces said not to be that person, which lower
    their threshold down to what their own faces allow; the drift baseline from the genuine faces."""
    n_people = scores.n_people
    genuine_rows = genuine_mask & (labels >= 0)
    threshold, far, frr, count = threshold_at_far(impostor, scores.own[genuine_rows], target_far)
    known = labels >= 0
    own = PersonStreams.group(scores.own[known], labels[known], n_people)
    refused = PersonStreams.group(
        np.array([d for _, d in rejected], dtype=np.float64),
        np.array([p for p, _ in rejected], dtype=np.int64),
        n_people,
    )
    per_person, floored = floored_thresholds(threshold, refused, own, max_person_frr) if rejected else ((), ())
    held_out = PersonStreams.group(scores.own[genuine_rows], labels[genuine_rows], n_people)
    median, share = drift_figures(held_out, threshold)
    return Thresholds(threshold, far, frr, count, per_person, floored, median, share)


def drift_figures(genuine: PersonStreams, threshold: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The drift baseline `faceops monitor` compares with: per person the median held-out distance and the share
    beyond the threshold; a person without held-out faces gets everyone's figures."""
    if genuine.values.size:
        overall = (float(np.median(genuine.values)), float(np.mean(genuine.values > threshold)))
    else:
        overall = (0.0, 0.0)
    medians = np.where(genuine.counts() > 0, genuine.medians(), overall[0])
    shares = np.where(genuine.counts() > 0, genuine.share_above(threshold), overall[1])
    return tuple(round(float(v), 6) for v in medians), tuple(round(float(v), 6) for v in shares)
