"""VGG16 without its top (ImageNet, a local file or random weights), global-average pooled and frozen, on the
faces stage's square crops; the model file holds it in front of the head."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.core.params import PARAMS_FILE
from faceops.data.detect import Box, crop_face
from faceops.data.images import sha256_file
from faceops.model.backbones import pipeline
from faceops.model.backbones.base import Backbone, FeatureExtractor, Finding, Inputs, keras_module, keras_precision

if TYPE_CHECKING:
    from faceops.model.card import ModelCard

log = logging.getLogger(__name__)

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_NOTOP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_NOTOP_FILE
MIN_IMAGE_SIZE = 32  # VGG16's five poolings need at least 32 px
BASE_LAYER = "vgg16"  # the name Keras gives the base inside a saved model
PRECISION_VARIABLE = "FACEOPS_PRECISION"
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}  # -> Keras policy
# Faces a batch: on the CPU, BATCH_CPU (bench/pipeline.py: the bare base is fastest at 128 of 16-128 on 2 cores, and
# the input pipeline at 32 reached 0.80 of it); on a GPU, enough to fill
# it at 96 px (fewer for larger faces, by area): not measured here.
BATCH_CPU, BATCH_GPU_96 = 128, 512


def imagenet_unreachable_message(reason: str) -> str:
    return (
        f"could not download the VGG16 ImageNet weights ({reason}). "
        f"Fetch {VGG16_NOTOP_URL} on a machine with a network, then either copy it to "
        f"~/.keras/models/{VGG16_NOTOP_FILE} or set train.weights to its path in {PARAMS_FILE}; "
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
        raise FaceopsError(f"{weights}: weights file not found (train.weights in {PARAMS_FILE})")
    return path


def describe_weights(weights: str | None) -> str:
    if weights is None:
        return "RANDOM weights (train.weights: null; for tests, not for real use)"
    return "ImageNet weights" if weights == "imagenet" else f"weights from {weights}"


def base_precision(setting: str | None = None) -> str:
    """The Keras dtype policy the frozen base computes in, from `setting` or else $FACEOPS_PRECISION: auto (the
    default), float32, bfloat16 or float16. auto is half precision on a GPU (bfloat16; float16 on one without
    bfloat16 units, compute capability below 8) and float32 on a CPU, where half precision is emulated and slower.
    The head is float32 whatever this says; the features of another precision are cached apart."""
    value = (setting or os.environ.get(PRECISION_VARIABLE, "") or "auto").strip()
    if value == "auto":
        devices = pipeline.gpu_devices()
        if not devices:
            return "float32"
        details = pipeline.tensorflow().config.experimental.get_device_details(devices[0])
        return "mixed_bfloat16" if details.get("compute_capability", (8, 0))[0] >= 8 else "mixed_float16"
    if value not in PRECISIONS:
        raise FaceopsError(f"{PRECISION_VARIABLE} is {value!r}; allowed: auto, {', '.join(PRECISIONS)}")
    return PRECISIONS[value]


def build_vgg16_base(weights: str | None, image_size: int, seed: int, precision: str = "float32") -> Any:
    """VGG16 without its classifier, global-average pooled to 512 features, frozen, computing in `precision` (a
    Keras dtype policy; its weights stay float32, the same for any precision)."""
    if image_size < MIN_IMAGE_SIZE:
        raise FaceopsError(f"base.image_size is {image_size}; VGG16 needs at least {MIN_IMAGE_SIZE} px")
    keras = keras_module()
    if weights is None:
        keras.utils.set_random_seed(seed)
    elif weights != "imagenet":
        _weights_file(weights)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)  # Keras' applications take no dtype: the global policy, for this only
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
    finally:
        keras.config.set_dtype_policy(previous)
    base.trainable = False
    log.info(
        "VGG16 base with %s, input %dx%dx3 -> %d features, computing in %s",
        describe_weights(weights),
        image_size,
        image_size,
        base.output_shape[-1],
        precision,
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


def describe_faces(base: Any, faces: Any) -> Any:
    """What `Vgg16Extractor.__call__` computes, as TensorFlow ops for the compiled graph: the same float32
    preprocessing (channels to BGR, ImageNet means off), the base, float32 features whatever it computes in."""
    tf = pipeline.tensorflow()
    inputs = keras_module().applications.vgg16.preprocess_input(tf.cast(faces, "float32"))
    return tf.cast(base(inputs, training=False), "float32")


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME, else ~/.keras (as keras.utils.get_file does)."""
    return Path(os.environ.get("KERAS_HOME") or Path(os.path.expanduser("~")) / ".keras")


@dataclass
class Vgg16Extractor:
    """A frozen VGG16 base plus the preprocessing it expects, on the faces stage's square crops: `__call__` for
    a photo's faces (prediction, one request), `stream` for many (the feature cache, batch prediction)."""

    base: Any
    identity: str
    image_size: int
    margin: float = 0.2  # of the crop around the box, as the faces stage cut it
    name: str = "vgg16"
    parallel: bool = False  # batched in one process, on the GPU where there is one
    from_photo: bool = False
    # XLA: 16 % slower here (2-core Xeon: 25 against 30 faces a CPU-second: Eigen instead of oneDNN); GPU: not measured
    xla: bool = False

    @property
    def key(self) -> str:
        """Full precision keeps the key it always had (and its cached features); another precision is cached apart."""
        extra = "" if self.precision == "float32" else f"|{self.precision}"
        return f"{self.name}|{self.identity}|{self.image_size}{extra}"

    @property
    def precision(self) -> str:
        return keras_precision(self.base)

    @property
    def n_features(self) -> int:
        return int(self.base.output_shape[-1])

    @property
    def batch_size(self) -> int:
        """Faces a batch for this machine: BATCH_CPU, or on a GPU BATCH_GPU_96 scaled by the face's area."""
        if not pipeline.gpu_devices():
            return BATCH_CPU
        return max(BATCH_CPU, int(BATCH_GPU_96 * (96 / self.image_size) ** 2))

    @property
    def saved_base(self) -> Any:
        return self.base

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        return np.stack([crop_face(rgb, box, self.margin, self.image_size) for box in boxes])

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.predict_on_batch(vgg16_preprocess(inputs)), dtype="float32")

    @cached_property
    def network(self) -> Any:
        """The preprocessing and the base as one compiled graph: uint8 faces in, float32 features out."""
        return pipeline.compile_network(partial(describe_faces, self.base), self.image_size, self.xla)

    def stream(self, inputs: Inputs, batch_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return pipeline.stream(self.network, inputs, self.image_size, batch_size or self.batch_size)


class Vgg16(Backbone):
    """VGG16 on the faces stage's crops; mirrored training faces help it."""

    name = "vgg16"
    embedding_size = 512
    mirrors_help = True
    default_head = "dense"  # ImageNet features are no face metric: a trained head separates people in them
    uses_weights = True
    saves_base = True

    def input_size(self, image_size: int) -> int:
        return image_size

    def build(self, weights: str | None, image_size: int, seed: int, margin: float) -> FeatureExtractor:
        base = build_vgg16_base(weights, self.input_size(image_size), seed, base_precision())
        return Vgg16Extractor(base, weights_identity(weights, seed), image_size, margin)

    def from_model(self, card: ModelCard, model: Any) -> FeatureExtractor:
        base = model.get_layer(BASE_LAYER)
        if base is None or card.weights_identity is None:
            raise FaceopsError("a VGG16 model needs its saved base and weights identity")
        return Vgg16Extractor(base, card.weights_identity, card.image_size, card.faces.margin)

    def describe(self, weights: str | None) -> str:
        return describe_weights(weights)

    def lookalike_skip(self, weights: str | None) -> str | None:
        return "VGG16 with random weights (tests only) tells no two people apart" if weights is None else None

    def doctor_check(self, weights: str | None, used: bool, reachable: Callable[[str], bool]) -> Finding:
        """The weights train.weights names: random (a warning when used), a file that exists, or ImageNet's,
        cached or reachable for download (nothing is downloaded)."""
        if weights is None:
            return Finding("WARN" if used else "OK", "train.weights: null (random weights, tests only)")
        if weights != "imagenet":
            found = Path(weights).is_file()
            return Finding(
                "OK" if found else ("FAIL" if used else "WARN"),
                f"weights file {weights}: {'found' if found else 'not found'}",
                "" if found else "set train.weights to an existing VGG16 no-top .h5 file",
            )
        cached = keras_cache_dir() / "models" / VGG16_NOTOP_FILE
        if cached.is_file():
            return Finding("OK", f"ImageNet weights cached at {cached}")
        if reachable(VGG16_NOTOP_URL):
            return Finding(
                "OK",
                f"ImageNet weights not cached yet; {VGG16_NOTOP_URL} is reachable",
                "" if os.environ.get("KERAS_HOME") else "set KERAS_HOME to a kept folder so they download once",
            )
        return Finding(
            "FAIL" if used else "WARN",
            f"ImageNet weights neither cached at {cached} nor reachable",
            f"copy {VGG16_NOTOP_FILE} to {cached.parent}/ or set train.weights to its path",
        )
