"""Open-set errors measured by rotation: every enrolled person is in the live model, and the faces of people
outside it are simulated by holding people out in turn.

In each fold a few people are held out; their faces are strangers to a gallery of everyone else, and their
distance to the closest remaining reference is what the "unknown" threshold must stop. Heads are not retrained
per fold: the threshold acts on the distance to a person's reference, and the closest reference bounds what any
head could pick (a face accepted by the head's pick is accepted by the closest one), so a false accept counted
here is one the live model could make. Faces of the negatives (dataset/raw/.negatives) join the strangers.

The threshold that goes live is calibrated on all of these distances. The false-accept rate reported is
cross-validated: each fold's strangers are judged by a threshold calibrated without them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceops.core.errors import FaceopsError


@dataclass(frozen=True)
class Calibration:
    threshold: float
    far: float  # on the impostor distances
    frr: float  # on the genuine distances
    impostors: int


def calibrate_unknown(impostor: np.ndarray, genuine: np.ndarray, target_far: float) -> Calibration:
    """The largest distance threshold that names no more than `target_far` of the impostor faces.

    `impostor`: distances of faces to the references of people they are not (faces of people outside a
    gallery, for a per-person reference); `genuine`: held-out known faces to their own reference.
    """
    ordered = np.sort(impostor[np.isfinite(impostor)])
    if not len(ordered):
        raise FaceopsError("the unknown threshold needs faces of at least 2 people")
    allowed = int(np.floor(target_far * len(ordered)))  # impostors that may fall inside the threshold
    threshold = float(ordered[allowed]) - 1e-6 if allowed < len(ordered) else float(ordered[-1])
    threshold = min(max(threshold, 1e-6), 2.0)
    far = float(np.mean(ordered <= threshold))
    frr = float(np.mean(genuine > threshold)) if len(genuine) else 0.0
    return Calibration(threshold, far, frr, len(ordered))


def people_folds(people: Sequence[str], per_fold: int, seed: int) -> list[list[int]]:
    """Rows of `people` in folds of `per_fold` (a seeded order), each person in exactly one; at least one person
    stays in the gallery of every fold, and one person alone has no fold."""
    if len(people) < 2:
        return []
    per_fold = max(1, min(per_fold, len(people) - 1))
    order = sorted(range(len(people)), key=lambda row: _rank(seed, people[row]))
    return [order[start : start + per_fold] for start in range(0, len(order), per_fold)]


def held_out_distances(distances: np.ndarray, labels: np.ndarray, folds: Sequence[Sequence[int]]) -> np.ndarray:
    """Each face's distance to the closest reference of the people not held out with it (its fold's gallery)."""
    result = np.full(len(labels), np.inf)
    for fold in folds:
        rows = np.isin(labels, fold)
        if rows.any():
            result[rows] = np.delete(distances[rows], list(fold), axis=1).min(axis=1)
    return result


@dataclass(frozen=True)
class StrangerCount:
    """What the rotation measured: false accepts among stranger faces, each judged by a threshold calibrated
    without its own fold."""

    stranger_faces: int
    false_accepts: int
    folds: int


def cross_validated_false_accepts(
    strangers: np.ndarray, folds: np.ndarray, extra_impostors: np.ndarray, target_far: float
) -> StrangerCount:
    """`strangers`: distances of stranger faces to the gallery they were held out of; `folds`: each one's fold.
    `extra_impostors` (rejected faces) calibrate every fold and are never counted."""
    measured, accepted = 0, 0
    for fold in np.unique(folds):
        mine = folds == fold
        pool = np.concatenate([strangers[~mine], extra_impostors])
        if not np.isfinite(pool).any():
            continue  # nothing to calibrate this fold on: its faces are not counted
        threshold = calibrate_unknown(pool, np.array([]), target_far).threshold
        measured += int(mine.sum())
        accepted += int(np.sum(strangers[mine] <= threshold))
    return StrangerCount(measured, accepted, len(np.unique(folds)))


def negative_folds(n: int, n_folds: int) -> np.ndarray:
    """Fold numbers for `n` negative faces, dealt round so that every fold gets some."""
    return np.arange(n) % max(n_folds, 1)


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:rotation:{key}".encode()).hexdigest()
