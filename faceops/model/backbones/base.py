"""What a backbone is to the rest of faceops: a `Backbone` (one per kind, in the registry) and the
`FeatureExtractor` it builds. Everything the code used to decide by a backbone's name is asked of these."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np

from faceops.data.detect import Box

if TYPE_CHECKING:
    from faceops.model.card import ModelCard


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


@dataclass(frozen=True)
class Inputs:
    """What an extractor's input pipeline describes: `count` items, item i's network inputs (an array of k >= 0
    faces, uint8, at the network's input size) being `load(i)`.

    `files`, where given, says that each item is one face read from files[i] (mirrored left to right where
    `mirror`) and nothing more: an extractor may then decode the files itself, off Python's lock (TensorFlow's
    threads), and `load` is what that stands for and what names a file it could not read."""

    count: int
    load: Callable[[int], np.ndarray]
    files: Sequence[str] | None = None
    mirror: bool = False


def serial_stream(
    describe: Callable[[np.ndarray], np.ndarray], inputs: Inputs, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The plain input pipeline: load the items in turn, describe about `batch_size` faces at a time. For an
    extractor with nothing to overlap (dlib: one face at a time, on the CPU, holding the GIL)."""
    items: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    for item in range(inputs.count):
        loaded = inputs.load(item)
        items.append(np.full(len(loaded), item, dtype="int64"))
        faces.extend(loaded)
        if len(faces) >= batch_size or (item == inputs.count - 1 and faces):
            yield np.concatenate(items), np.asarray(describe(np.stack(faces)), dtype="float32")
            items, faces = [], []


def keras_precision(model: Any) -> str:
    """The dtype policy a Keras model computes in: that of its first layer (nested models searched) with another
    than float32, else float32. Layers are searched because a loaded model's nested model says float32 of itself
    whatever its layers compute in."""
    for layer in getattr(model, "layers", []):
        policy = keras_precision(layer) if hasattr(layer, "layers") else layer.dtype_policy.name
        if policy != "float32":
            return str(policy)
    return "float32"


class FeatureExtractor(Protocol):
    """Turns faces into feature vectors: `inputs_from_photo` makes the network's inputs for the boxes of a
    photo, `__call__` describes a batch of them (its own preprocessing included), `stream` describes many
    through its input pipeline (the feature cache and batch prediction)."""

    name: str  # the backbone's name
    image_size: int
    parallel: bool  # whether worker processes may run it (a CPU extractor that pickles), else one batched process
    from_photo: bool  # True: its inputs come from the source photo; False: the faces stage's crop is its input

    @property
    def key(self) -> str: ...  # what the features depend on; the feature cache is keyed by it

    @property
    def n_features(self) -> int: ...

    @property
    def identity(self) -> str | None: ...  # what its weights are (the card keeps it), None: no weights setting

    @property
    def saved_base(self) -> Any: ...  # the Keras model saved in front of the head, None: the head is saved alone

    def inputs_from_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray: ...

    @property
    def precision(self) -> str: ...  # the Keras dtype policy its network computes in ("float32": full precision)

    def __call__(self, inputs: np.ndarray) -> np.ndarray: ...

    def stream(self, inputs: Inputs, batch_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(item numbers, features) a batch at a time, in item order, one row per face; `batch_size` None:
        the extractor's own choice for its device."""
        ...


@dataclass(frozen=True)
class Finding:
    """A backbone's answer to `faceops doctor`: the row's status, what was found and what to do about it."""

    status: Literal["OK", "WARN", "FAIL"]
    detail: str
    advice: str = ""


class Backbone(ABC):
    """One kind of frozen feature extractor, and every fact about it that training, loading, the lookalikes
    check and `faceops doctor` need. A new backbone is a subclass in its own module, registered in
    faceops.model.backbones, with its name in faceops.core.params.BACKBONE_NAMES (which params.yaml and
    model cards are checked against)."""

    name: ClassVar[str]  # train.backbone in params.yaml, `backbone` in the model card
    embedding_size: ClassVar[int]  # features per face
    mirrors_help: ClassVar[bool]  # whether train.augment.flip: auto adds mirrored training faces
    default_head: ClassVar[str] = "dense"  # the head train.head: auto trains on its features
    uses_weights: ClassVar[bool]  # whether train.weights applies to it (the card then records the setting)
    # True: the model file holds its frozen base in front of the head and loads with Keras; False: the head alone,
    # which prediction runs as numpy (no TensorFlow) before this backbone's own model.
    saves_base: ClassVar[bool]

    @abstractmethod
    def input_size(self, image_size: int) -> int:
        """The side in pixels of the square the network sees, given base.image_size (the faces stage's crops)."""

    @abstractmethod
    def build(self, weights: str | None, image_size: int, seed: int, margin: float) -> FeatureExtractor:
        """The extractor to train with, from train.weights, base.image_size, base.seed and faces.margin."""

    @abstractmethod
    def from_model(self, card: ModelCard, model: Any) -> FeatureExtractor:
        """The extractor a trained model was trained with, from its card and the loaded Keras model (None when
        the model file holds the head alone)."""

    @abstractmethod
    def describe(self, weights: str | None) -> str:
        """What a person reads about the backbone in logs, the card and the report."""

    @abstractmethod
    def doctor_check(self, weights: str | None, used: bool, reachable: Callable[[str], bool]) -> Finding:
        """Whether this machine can run it; `used`: params.yaml trains with it (a missing piece is then a FAIL)."""

    def weights_setting(self, weights: str | None) -> str | None:
        """The train.weights setting as the card records it: None for a backbone it does not apply to."""
        return weights if self.uses_weights else None

    def lookalike_skip(self, weights: str | None) -> str | None:
        """Why its features cannot tell lookalikes from different people, or None when they can."""
        return None
