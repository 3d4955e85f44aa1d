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
from faceops.model.scoring import FaceScores, far_threshold


def people_folds(people: Sequence[str], per_fold: int, seed: int) -> list[list[int]]:
    """Rows of `people` in folds of `per_fold` (a seeded order), each person in exactly one; at least one person
    stays in the gallery of every fold, and one person alone has no fold."""
    if len(people) < 2:
        return []
    per_fold = max(1, min(per_fold, len(people) - 1))
    order = sorted(range(len(people)), key=lambda row: _rank(seed, people[row]))
    return [order[start : start + per_fold] for start in range(0, len(order), per_fold)]


def neighbours_needed(folds: Sequence[Sequence[int]], n_people: int, at_least: int = 1) -> int:
    """The k closest people `faceops.model.scoring.score_faces` must keep per face for `held_out_distances`: the
    closest reference outside a fold of m people is among the m + 1 closest."""
    return min(n_people, max(at_least, max((len(fold) for fold in folds), default=0) + 1))


def face_folds(labels: np.ndarray, folds: Sequence[Sequence[int]], n_people: int) -> np.ndarray:
    """Each face's fold (-1: its person is in none, or a stranger's face, labelled -1)."""
    person_fold = np.full(n_people + 1, -1)  # the extra last entry answers for label -1
    for number, fold in enumerate(folds):
        person_fold[list(fold)] = number
    return person_fold[np.where(labels >= 0, labels, n_people)]


def held_out_distances(scores: FaceScores, labels: np.ndarray, folds: Sequence[Sequence[int]]) -> np.ndarray:
    """Each face's distance to the closest reference of the people not held out with it (its fold's gallery), read
    off its k closest people (`neighbours_needed`); inf for a face in no fold."""
    fold_of = face_folds(labels, folds, scores.n_people)
    person_fold = face_folds(np.arange(scores.n_people), folds, scores.n_people)
    result = np.full(len(labels), np.inf)
    held = np.flatnonzero(fold_of >= 0)
    outside = person_fold[scores.top_people[held]] != fold_of[held, None]
    if not outside.any(axis=1).all():
        raise FaceopsError(
            f"the {scores.top_people.shape[1]} closest people kept per face are all in the face's fold; allowed: "
            f"at least {neighbours_needed(folds, scores.n_people)} (faceops.model.rotation.neighbours_needed)"
        )
    result[held] = scores.top_distances[held, outside.argmax(axis=1)]
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
    `extra_impostors` (rejected faces) calibrate every fold and are never counted. Each fold's threshold is read
    off one sort of all the distances, its own ones skipped: O(faces log faces), not O(folds x faces)."""
    values = np.concatenate([np.asarray(strangers, dtype=np.float64), np.asarray(extra_impostors, dtype=np.float64)])
    finite = np.isfinite(values)
    order = np.argsort(values[finite], kind="stable")
    ordered = values[finite][order]
    position = np.full(len(values), -1)
    position[np.flatnonzero(finite)[order]] = np.arange(len(order))  # each finite value's place in `ordered`
    numbers, fold_index = np.unique(np.asarray(folds), return_inverse=True)
    by_fold = np.argsort(fold_index, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(fold_index, minlength=len(numbers)))])
    measured, accepted = 0, 0
    for number in range(len(numbers)):
        mine = by_fold[bounds[number] : bounds[number + 1]]
        skipped = np.sort(position[mine][position[mine] >= 0])
        remaining = len(ordered) - len(skipped)
        if not remaining:
            continue  # nothing to calibrate this fold on: its faces are not counted
        before = skipped - np.arange(len(skipped))  # the other faces' values below each skipped one

        def nth(i: int, before: np.ndarray = before) -> float:
            return float(ordered[i + np.searchsorted(before, i, side="right")])  # the i-th of the others

        threshold = far_threshold(nth, remaining, target_far)
        measured += len(mine)
        accepted += int(np.sum(values[mine] <= threshold))
    return StrangerCount(measured, accepted, len(numbers))


def negative_folds(n: int, n_folds: int) -> np.ndarray:
    """Fold numbers for `n` negative faces, dealt round so that every fold gets some."""
    return np.arange(n) % max(n_folds, 1)


@dataclass(frozen=True)
class OpenSetEvidence:
    impostor: np.ndarray  # what the live threshold is calibrated on
    strangers: StrangerCount  # the cross-validated false accepts


def rotation_evidence(
    scores: FaceScores, labels: np.ndarray, folds: Sequence[Sequence[int]], negatives: np.ndarray, target_far: float
) -> OpenSetEvidence:
    """Hold people out in `folds` (`people_folds`) over faces that are all in the live model: their distances to
    each fold's gallery, and the negatives' (faces of nobody in the model, or said not to be someone), calibrate
    the live threshold and measure false accepts."""
    held_out = held_out_distances(scores, labels, folds)
    fold_of = face_folds(labels, folds, scores.n_people)
    held = fold_of >= 0  # one person alone has no fold: only the negatives are strangers then
    n_folds = len(folds) or min(5, len(negatives))
    strangers = np.concatenate([held_out[held], negatives])
    fold_ids = np.concatenate([fold_of[held], negative_folds(len(negatives), n_folds)])
    count = cross_validated_false_accepts(strangers, fold_ids, np.array([]), target_far)
    return OpenSetEvidence(strangers, count)


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:rotation:{key}".encode()).hexdigest()
