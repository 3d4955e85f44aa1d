"""Rejections: faces someone said are not NAME ("that's not me", `faceops feedback accept`), kept as crops in
dataset/raw/.negatives/NAME/. Inside dataset/raw (a folder the faces stage skips), so one `dvc add dataset/raw`
and push carries them and triggers the retrain, whose open-set calibration uses them as impostors of NAME.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceops.core.layout import LAYOUT
from faceops.data.detect import Box
from faceops.data.images import is_image_name, load_image

NEGATIVES_DIR = LAYOUT.negatives
CROP_MARGIN = 0.6  # a kept crop is the face box grown by this share on each side, as `faceops capture` saves photos


def inner_box(width: int, height: int, margin: float = CROP_MARGIN) -> Box:
    """The face box inside a crop cut with `margin` (exact unless the crop was clamped at the photo's edge)."""
    box_width, box_height = round(width / (1 + 2 * margin)), round(height / (1 + 2 * margin))
    return Box((width - box_width) // 2, (height - box_height) // 2, box_width, box_height)


@dataclass(frozen=True)
class Rejection:
    """A face someone said is not `person`: a crop the service kept, accepted by review."""

    person: str
    path: Path


def read_rejections(folder: str | os.PathLike[str]) -> list[Rejection]:
    """The accepted rejections under `folder`/NAME/; none if the folder does not exist."""
    folder = Path(folder)
    photos = sorted(folder.glob("*/*")) if folder.is_dir() else []
    return [Rejection(path.parent.name, path) for path in photos if path.is_file() and is_image_name(path)]


def rejection_inputs(extractor, rejections: Sequence[Rejection]) -> np.ndarray:  # noqa: ANN001 - FeatureExtractor
    """The backbone inputs of the rejected faces, made as for any face: the crop is the photo, the box inside it."""
    batches = []
    for rejection in rejections:
        rgb = load_image(rejection.path)
        batches.append(extractor.inputs_from_photo(rgb, [inner_box(rgb.shape[1], rgb.shape[0])]))
    return np.concatenate(batches)
