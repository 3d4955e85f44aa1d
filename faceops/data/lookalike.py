"""Two names, one face: people whose faces are as close to each other as each one's own faces are.

Usually one person enrolled under two names. Left in, the open-set calibration takes each name's faces for
impostors of the other and pulls every threshold down (measured: a false-reject rate from 0 to 94 %), and the
head splits one face between two labels. Found with the backbone's features, before the head is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from faceops.core.layout import LAYOUT

# A pair is flagged when the median distance between their faces is at most this multiple of the larger of the
# two people's own median distances. Measured on LFW (4 people, 20 photos each) with dlib's descriptor: one person's
# photos split in two halves 0.93 to 1.06, different people 2.03 to 4.07. VGG16 with ImageNet weights was not
# measured here (no download); VGG16 with random weights tells no one apart (different people 0.95 to 1.03), so
# the check is skipped for it (the backbone's `lookalike_skip`, faceops.model.backbones).
LOOKALIKE_RATIO = 1.25


@dataclass(frozen=True)
class Lookalike:
    first: str
    second: str
    between: float  # median cosine distance between a face of one and a face of the other
    within_first: float  # median cosine distance between two faces of the first
    within_second: float

    def message(self) -> str:
        return (
            f"{self.first} and {self.second} look like one person: their faces are as close to each other "
            f"(median distance {self.between:.3f}) as {self.first}'s own ({self.within_first:.3f}) and "
            f"{self.second}'s own ({self.within_second:.3f}); if they are one person, move the photos into one "
            f"folder of {LAYOUT.raw}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "message": self.message()}


def _units(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def lookalikes(features: np.ndarray, people: Sequence[str], ratio: float = LOOKALIKE_RATIO) -> list[Lookalike]:
    """Every pair of people whose faces are no further apart than `ratio` times their own spread."""
    units = _units(np.asarray(features, dtype=np.float64))
    names = np.asarray(people)
    groups = {name: units[names == name] for name in sorted(set(people))}
    within = {}
    for name, faces in groups.items():
        if len(faces) < 2:
            continue
        distances = 1.0 - faces @ faces.T
        within[name] = float(np.median(distances[np.triu_indices(len(faces), k=1)]))
    found = []
    ordered = sorted(within)
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            between = float(np.median(1.0 - groups[first] @ groups[second].T))
            if between <= ratio * max(within[first], within[second]):
                found.append(
                    Lookalike(first, second, round(between, 4), round(within[first], 4), round(within[second], 4))
                )
    return found
