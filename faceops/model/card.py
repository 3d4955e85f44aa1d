"""The model card: what `models/model.json` says about the model beside it, as one typed contract.

Train writes it; evaluation, `faceops predict`, the service and the report read it through
`ModelCard.read`, which checks every field the way params.yaml is checked, so a damaged or foreign
model.json stops with one line naming the file and the field instead of a KeyError far away.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from faceops.core.atomic import read_json, write_json
from faceops.core.config import from_mapping
from faceops.core.errors import FaceopsError
from faceops.core.params import BACKBONE_NAMES, FacesParams

# models/model.json's own format, independent of params.yaml: a new params key never makes a card unreadable.
# 1: written until gate v2 (key `format`, faces and train as the params dataclasses); 2: `schema_version`, crop
# settings as CropSettings, the train settings as a plain snapshot. Bump it when a field changes meaning.
CARD_SCHEMA = 2
VERSIONED_PACKAGES = ("faceops", "tensorflow", "keras", "dlib-bin", "numpy", "scikit-learn")


@dataclass(frozen=True)
class OpenSet:
    """The "unknown" answer: a face further than `threshold` from its closest person is unknown.

    The threshold lets `target_far` of impostor faces through: faces of people outside the gallery, which
    for a person-mean reference each known face also is for every other person (its own mean aside).
    `expected_frr` is what that costs on held-out known faces."""

    threshold: float
    centroids: tuple[tuple[float, ...], ...]  # one unit vector per label, in label order
    target_far: float
    expected_far: float  # on the impostor faces it was calibrated on
    expected_frr: float  # on held-out known faces: each training face left out of its own reference
    impostor_faces: int
    distance: str = "cosine to the person's mean feature direction"
    # The drift baseline, per label: median distance of held-out faces of theirs, and the share beyond the threshold.
    median_distance: tuple[float, ...] = ()
    unknown_share: tuple[float, ...] = ()
    # Per label, where rejections ("not NAME" feedback) lowered that person's threshold; empty: `threshold` for all.
    person_thresholds: tuple[float, ...] = ()
    rejections: int = 0  # rejected faces the calibration used
    # The rotation (model.rotation): stranger faces (people held out in turn, and negatives) and how many of them
    # a threshold calibrated without their fold accepted; 0 and 0 for a model trained before it.
    stranger_faces: int = 0
    false_accepts: int = 0
    rotation_folds: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 2:
            raise ValueError(f"threshold is {self.threshold}; allowed: a cosine distance above 0, at most 2")
        if any(not 0 < value <= self.threshold for value in self.person_thresholds):
            raise ValueError(
                f"person_thresholds is {list(self.person_thresholds)}; allowed: values above 0, at most threshold"
            )

    def threshold_of(self, row: int) -> float:
        return self.person_thresholds[row] if self.person_thresholds else self.threshold


@dataclass(frozen=True)
class CropSettings:
    """How the faces were found and cropped, which prediction must repeat: the card's own type, not FacesParams,
    so that a faces.* key added to params.yaml later leaves old cards readable. A new setting that changes the
    crops belongs here too (with a CARD_SCHEMA bump)."""

    # Defaults: faces.* as of schema 1, which cards of that schema left out only at these values.
    detector: Literal["haar", "hog", "cnn"] = "hog"
    margin: float = 0.2
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_size: int = 80
    multiple_faces: Literal["largest", "reject"] = "largest"

    @classmethod
    def of(cls, faces: FacesParams) -> CropSettings:
        return cls(**{f.name: getattr(faces, f.name) for f in dataclasses.fields(cls)})

    def params(self) -> FacesParams:
        """The detector settings to crop as training did (keys FacesParams has since gained keep their defaults)."""
        known = {f.name for f in dataclasses.fields(FacesParams)}
        return FacesParams(**{k: v for k, v in dataclasses.asdict(self).items() if k in known})


@dataclass(frozen=True)
class ModelCard:
    labels: tuple[str, ...]  # the people, in the model's output order
    backbone: Literal[BACKBONE_NAMES]
    weights: str | None  # the train.weights setting it was trained with, for a backbone it applies to
    weights_description: str  # for people: "ImageNet weights", "RANDOM weights …", "dlib ResNet v1 …"
    weights_identity: str | None  # what its weights are (part of the feature cache key); None: no weights setting
    feature_key: str
    image_size: int
    n_features: int
    train_faces: int
    faces: CropSettings  # the crop settings prediction must repeat
    train: Mapping[str, Any]  # the train.* settings it was trained with: a snapshot, for people to read
    open_set: OpenSet
    metrics: Mapping[str, Any] = field(default_factory=dict)  # the train stage's metrics, a snapshot
    versions: Mapping[str, str] = field(default_factory=dict)  # packages it was trained with
    # People forgotten (`faceops forget`) since this model was trained: answered "unknown", their reference gone.
    forgotten: tuple[str, ...] = ()
    schema_version: int = CARD_SCHEMA
    # The weights file this card belongs to: a model file with another hash or number of outputs is not loaded.
    weights_sha256: str = ""  # empty: a card written before this was recorded (not checked)
    outputs: int = 0  # the model's outputs (one per label); 0: not recorded
    # What the frozen base computes in (a Keras dtype policy; the head is always float32): half precision where it
    # was trained on a GPU (faceops.model.backbones.vgg16.base_precision). Older cards: float32, all they knew.
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"] = "float32"

    def __post_init__(self) -> None:
        if self.schema_version != CARD_SCHEMA:
            raise ValueError(f"schema_version is {self.schema_version}; allowed: {CARD_SCHEMA}")
        if len(self.labels) < 1 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels is {list(self.labels)!r}; allowed: one or more distinct names")
        strangers = sorted(set(self.forgotten) - set(self.labels))
        if strangers:
            raise ValueError(f"forgotten is {strangers!r}; allowed: names among the labels")
        shape = (len(self.open_set.centroids), {len(row) for row in self.open_set.centroids})
        if shape != (len(self.labels), {self.n_features}):
            raise ValueError(
                f"open_set.centroids has {shape[0]} rows of {sorted(shape[1])} values; "
                f"allowed: one row of n_features ({self.n_features}) values per label ({len(self.labels)})"
            )
        if len(self.open_set.person_thresholds) not in (0, len(self.labels)):
            raise ValueError(
                f"open_set.person_thresholds has {len(self.open_set.person_thresholds)} values; "
                f"allowed: none, or one per label ({len(self.labels)})"
            )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ModelCard:
        data = read_json(path, missing="model card not found (train a model with `dvc repro`)")
        if not isinstance(data, Mapping):
            raise FaceopsError(f"{path}: not a model card (expected an object, found {type(data).__name__})")
        data = _upgrade(data, path)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and _required(f)]
        if missing:
            raise FaceopsError(
                f"{path}: not a model card of this faceops: {', '.join(missing)} missing "
                "(train the model again with dvc repro)"
            )
        return from_mapping(cls, data, "", source=str(path))

    def forget(self, person: str) -> ModelCard:
        """This card with `person` forgotten: the model answers unknown for them and keeps no reference of theirs."""
        row = self.labels.index(person)
        centroids = list(self.open_set.centroids)
        centroids[row] = (0.0,) * self.n_features
        open_set = dataclasses.replace(self.open_set, centroids=tuple(centroids))
        return dataclasses.replace(self, open_set=open_set, forgotten=tuple(sorted({*self.forgotten, person})))

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, dataclasses.asdict(self))

    @property
    def version(self) -> str:
        """A short content hash: what /model and the logs call this model."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _upgrade(data: Mapping[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """A card of an older schema as the current one; a newer or unknown schema is refused in one line."""
    data = dict(data)
    schema = data.pop("schema_version", None)
    if schema is None:  # schema 1 called it `format`, which its cards could leave out at its default, 1
        schema = data.pop("format", 1)
    if schema == 1:
        schema = CARD_SCHEMA  # same fields; faces held exactly today's crop settings, train is read as a snapshot
    if schema != CARD_SCHEMA:
        newer = isinstance(schema, int) and not isinstance(schema, bool) and schema > CARD_SCHEMA
        raise FaceopsError(
            f"{path}: schema_version is {schema!r}; allowed: 1 to {CARD_SCHEMA}"
            + (" (written by a newer faceops: upgrade faceops)" if newer else " (train the model again with dvc repro)")
        )
    data["schema_version"] = schema
    return data


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def package_versions() -> dict[str, str]:
    """Versions of the packages a model depends on, for its card."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def card_path(model_path: str | os.PathLike[str]) -> Path:
    """model.keras -> model.json: the card lives beside the model it describes."""
    return Path(model_path).with_suffix(".json")
