"""The trained recogniser on disk: `model.keras` (frozen base + dense head) and `model.json` (labels, origin).

One loading path serves evaluation, the CLI and the web service.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from faceops.atomic import atomic_path, write_json
from faceops.backbones import FeatureExtractor, keras_module
from faceops.errors import FaceopsError

BASE_LAYER = "vgg16"
HEAD_LAYER = "head"


def build_head(features: np.ndarray, n_classes: int, units: int, dropout: float, activation: str) -> Any:
    """Standardise the base features (adapted to the training set), then one hidden layer and softmax."""
    keras = keras_module()
    normalise = keras.layers.Normalization()
    normalise.adapt(features)
    return keras.Sequential(
        [
            keras.Input(shape=(features.shape[1],)),
            normalise,
            keras.layers.Dense(units, activation=activation),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name=HEAD_LAYER,
    )


def assemble(base: Any, head: Any) -> Any:
    """Base and head as one model that maps a preprocessed face to class probabilities."""
    keras = keras_module()
    inputs = keras.Input(shape=base.input_shape[1:])
    return keras.Model(inputs, head(base(inputs, training=False)), name="faceops")


def save_recogniser(model_path: str | os.PathLike[str], model: Any, meta: dict) -> None:
    """Write model.keras and its model.json atomically; the json names the labels in output order."""
    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    write_json(Path(model_path).with_suffix(".json"), meta)


@dataclass
class Recogniser:
    model: Any
    meta: dict

    @classmethod
    def load(cls, model_path: str | os.PathLike[str]) -> Recogniser:
        model_path = Path(model_path)
        meta_path = model_path.with_suffix(".json")
        for path in (model_path, meta_path):
            if not path.exists():
                raise FaceopsError(f"{path}: model not found (train one with `dvc repro`)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise FaceopsError(f"{meta_path}: not valid JSON ({exc})") from None
        try:
            model = keras_module().models.load_model(model_path)
        except (OSError, ValueError) as exc:
            raise FaceopsError(f"{model_path}: cannot load the model ({exc})") from None
        return cls(model, meta)

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def image_size(self) -> int:
        return int(self.meta["image_size"])

    @cached_property
    def extractor(self) -> FeatureExtractor:
        """The model's own frozen base, with the identity it was trained with (so the cache applies)."""
        base = self.model.get_layer(BASE_LAYER)
        return FeatureExtractor(base, self.meta["weights_identity"], self.image_size)

    @property
    def head(self) -> Any:
        return self.model.get_layer(HEAD_LAYER)

    def probabilities_from_features(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.head.predict(features, verbose=0, batch_size=256))

    def probabilities(self, faces: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of face crops (uint8 RGB, image_size square)."""
        return np.asarray(self.model.predict_on_batch(self.extractor.preprocess(faces)))
