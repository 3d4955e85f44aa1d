"""dlib's models, shipped inside PyPI packages (dlib-bin, face-recognition-models): found and loaded once per process.

face_recognition_models imports pkg_resources, so its folder is found with importlib, never imported.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from faceops.core.errors import FaceopsError

DLIB_PACKAGES = "pip install dlib-bin face-recognition-models"
LANDMARKS = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"


def dlib_model_dir(what: str = "train.backbone dlib_resnet") -> Path:
    """The model files of face_recognition_models; `what` (the setting that needs them) is named when missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceopsError(f"{what} needs the packages dlib-bin and face-recognition-models ({DLIB_PACKAGES})")
    return Path(spec.origin).parent / "models"


def import_dlib(what: str) -> Any:
    try:
        import dlib
    except ImportError:
        raise FaceopsError(f"{what} needs dlib ({DLIB_PACKAGES})") from None
    return dlib


@cache
def load_model(kind: str, file: str, what: str) -> Any:
    """One dlib model (kind: the dlib class name), loaded once per process."""
    dlib = import_dlib(what)
    path = dlib_model_dir(what) / file
    if kind == "frontal_face_detector":
        return dlib.get_frontal_face_detector()
    if not path.exists():
        raise FaceopsError(f"{path}: missing; reinstall face-recognition-models ({DLIB_PACKAGES})")
    return getattr(dlib, kind)(str(path))
