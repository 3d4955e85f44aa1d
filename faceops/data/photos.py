"""Face photos as the data set keeps them: a face cut out of a frame, and a photo written under the next free name.

Shared by `faceops capture`, the service's enrolment and crops, and `faceops feedback accept`, so that a photo
saved by any of them looks the same and lands the same way.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from faceops.core.atomic import umask_mode
from faceops.core.errors import FaceopsError
from faceops.data.detect import Box


def next_number(folder: Path, person: str) -> int:
    pattern = re.compile(rf"^{re.escape(person)}_(\d+)\.jpg$")
    numbers = [int(m.group(1)) for p in folder.glob("*.jpg") if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1


def save_photo(folder: Path, person: str, rgb: np.ndarray, number: int | None = None) -> Path:
    """Write a photo as PERSON_NNNN.jpg under the first free number from `number` (default: the next one).

    The file appears complete or not at all, and never replaces another photo: it is written aside and
    then hard-linked into place, which fails if a concurrent writer took the name first."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    number = number or next_number(folder, person)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{person}.", suffix=".jpg", dir=folder)
    os.close(fd)
    try:
        if not cv2.imwrite(tmp_name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise FaceopsError(f"{folder}: a photo cannot be written there")
        os.chmod(tmp_name, umask_mode(0o666))
        while True:
            target = folder / f"{person}_{number:04d}.jpg"
            try:
                os.link(tmp_name, target)
                return target
            except FileExistsError:
                number += 1
    finally:
        os.unlink(tmp_name)


def face_region(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """The face box grown by `margin` on each side, clamped to the frame (no resizing: a raw photo)."""
    height, width = rgb.shape[:2]
    dx, dy = int(box.width * margin), int(box.height * margin)
    return rgb[
        max(0, box.y - dy) : min(height, box.y + box.height + dy),
        max(0, box.x - dx) : min(width, box.x + box.width + dx),
    ]
