"""params.yaml as typed settings: one frozen dataclass per section, its defaults and its allowed ranges.

This is the one place where settings get their defaults and their checks. The stages and the CLI read
params.yaml only through `load_params`, which refuses an unknown section or key, a wrong type and a
value out of range with one line naming `section.key`, the value and what is allowed, before any
work starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from faceops.core.config import from_mapping, load_params_file
from faceops.core.errors import FaceopsError

PARAMS_FILE = "params.yaml"
# The backbones train.backbone (and a model card) may name: those faceops.model.backbones registers, which refuses to
# load unless they are these, in this order (core cannot import that layer to ask it).
BACKBONE_NAMES = ("vgg16", "dlib_resnet")
# The train settings only some heads read (faceops.model.train.fit_head); every other one shapes every model.
HEAD_SETTINGS: Mapping[str, frozenset[str]] = {
    "dense": frozenset(
        {"epochs", "batch_size", "learning_rate", "dense_units", "dropout", "activation", "class_weights"}
        | {"early_stopping_patience"}
    ),
    "logistic": frozenset({"epochs", "batch_size", "learning_rate", "class_weights", "early_stopping_patience"}),
    "sklearn_logistic": frozenset({"class_weights"}),
    "centroid": frozenset(),
}


def _require(key: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise the ValueError that `from_mapping` turns into `params.yaml: section.key is …; allowed: …`."""
    if not ok:
        raise ValueError(f"{key} is {value!r}; allowed: {allowed}")


@dataclass(frozen=True)
class BaseParams:
    """Settings that several stages share: the face crop size and the random seed."""

    image_size: int = 96  # face crops are image_size x image_size pixels
    seed: int = 42

    def __post_init__(self) -> None:
        _require("image_size", self.image_size, 32 <= self.image_size <= 512, "32 to 512 pixels")
        _require("seed", self.seed, 0 <= self.seed < 2**32, "0 to 4294967295 (numpy's seed range)")


@dataclass(frozen=True)
class FacesParams:
    """How the faces stage (and capture and prediction, which must crop alike) finds and crops faces."""

    detector: Literal["haar", "hog", "cnn"] = "hog"
    margin: float = 0.2  # grow the detected box by this share on each side
    scale_factor: float = 1.1  # Haar cascade: image pyramid step
    min_neighbors: int = 5  # Haar cascade: higher = fewer, surer detections
    min_face_size: int = 80  # pixels in the source photo; hog and cnn double the image per halving below 80
    multiple_faces: Literal["largest", "reject"] = "largest"

    def __post_init__(self) -> None:
        _require("detector", self.detector, self.detector in ("haar", "hog", "cnn"), "haar, hog or cnn")
        _require("margin", self.margin, 0 <= self.margin <= 1, "0 to 1")
        _require("scale_factor", self.scale_factor, 1 < self.scale_factor <= 2, "more than 1, at most 2")
        _require("min_neighbors", self.min_neighbors, 0 <= self.min_neighbors <= 50, "0 to 50")
        _require("min_face_size", self.min_face_size, 8 <= self.min_face_size <= 4096, "8 to 4096 pixels")


@dataclass(frozen=True)
class ValidateParams:
    min_people: int = 1  # trainable people; 1: an "is this me?" recogniser, which needs others' faces as negatives
    min_images_per_person: int = 5
    warn_images_per_person: int = 15  # fewer than this passes, with a warning
    max_imbalance: float = 30.0  # most images of one person / fewest of another
    max_rejected_share: float = 0.2  # of the source photos, rejected by the faces stage

    def __post_init__(self) -> None:
        _require("min_people", self.min_people, self.min_people >= 1, "1 or more")
        _require(
            "min_images_per_person",
            self.min_images_per_person,
            self.min_images_per_person >= 2,
            "2 or more (one for training, one for testing)",
        )
        _require(
            "warn_images_per_person",
            self.warn_images_per_person,
            self.warn_images_per_person >= self.min_images_per_person,
            "at least validate.min_images_per_person",
        )
        _require("max_imbalance", self.max_imbalance, self.max_imbalance >= 1, "1 or more")
        _require("max_rejected_share", self.max_rejected_share, 0 <= self.max_rejected_share <= 1, "0 to 1")


@dataclass(frozen=True)
class SplitParams:
    test_size: float = 0.25
    # People held out at a time in the rotation that measures false accepts (faceops.model.rotation); the live model
    # trains on everyone.
    strangers: int = 2

    def __post_init__(self) -> None:
        _require("test_size", self.test_size, 0.05 <= self.test_size <= 0.5, "0.05 to 0.5")
        _require("strangers", self.strangers, 1 <= self.strangers <= 20, "1 to 20 people")


@dataclass(frozen=True)
class UnknownParams:
    """The "unknown" answer, calibrated to a false-accept rate on faces of people outside the gallery."""

    target_far: float = 0.01  # share of strangers' faces that may be given a name
    # Rejections ("that's not NAME", from feedback) lower NAME's own threshold below every rejected face, but
    # never so far that more than this share of NAME's own faces would fall outside it.
    max_person_frr: float = 0.2
    # Each person's reference: the mean of their fit-share faces (fit) or of every training face (all, the
    # validation share too: fewer false rejects with few photos a person; params.yaml says what was measured).
    references: Literal["fit", "all"] = "all"

    def __post_init__(self) -> None:
        _require("target_far", self.target_far, 0 < self.target_far < 0.5, "more than 0, less than 0.5")
        _require("max_person_frr", self.max_person_frr, 0 <= self.max_person_frr < 1, "at least 0, less than 1")


@dataclass(frozen=True)
class AugmentParams:
    # A mirrored copy of every training face. "auto": for a backbone they help (its `mirrors_help`,
    # faceops.model.backbones).
    flip: bool | Literal["auto"] = "auto"
    copies: int = 0  # randomly jittered copies per training face
    rotation: float = 10.0  # degrees, either way
    shift: float = 0.05  # share of the image size
    zoom: float = 0.1
    brightness: float = 0.2

    def __post_init__(self) -> None:
        _require("copies", self.copies, 0 <= self.copies <= 10, "0 to 10")
        _require("rotation", self.rotation, 0 <= self.rotation <= 45, "0 to 45 degrees")
        _require("shift", self.shift, 0 <= self.shift <= 0.3, "0 to 0.3")
        _require("zoom", self.zoom, 0 <= self.zoom <= 0.5, "0 to 0.5")
        _require("brightness", self.brightness, 0 <= self.brightness <= 0.9, "0 to 0.9")

    def mirrors(self, helps: bool) -> bool:
        """Whether training adds mirrored faces; `helps`: whether they help the backbone, what "auto" follows."""
        return helps if self.flip == "auto" else bool(self.flip)


@dataclass(frozen=True)
class TrainParams:
    backbone: Literal[BACKBONE_NAMES] = "vgg16"
    weights: str | None = "imagenet"  # vgg16 only: "imagenet", a path to a .h5 file, or null (random, for tests)
    # "auto": the backbone's own (faceops.model.backbones: dense on VGG16's features, centroid on dlib's descriptor).
    head: Literal["auto", "dense", "logistic", "sklearn_logistic", "centroid"] = "auto"
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 0.001  # Adam
    dense_units: int = 256
    dropout: float = 0.5
    activation: Literal["relu", "gelu", "elu", "tanh", "sigmoid"] = "relu"
    class_weights: Literal["balanced", "none"] = "balanced"
    validation_share: float = 0.1  # of the training faces, held out to draw the validation curve
    early_stopping_patience: int = 0  # 0: train all epochs
    unknown: UnknownParams = field(default_factory=UnknownParams)
    augment: AugmentParams = field(default_factory=AugmentParams)

    def head_kind(self, backbone_head: str) -> str:
        """The head to train; `backbone_head`: the backbone's own, what "auto" follows."""
        return backbone_head if self.head == "auto" else self.head

    def unread(self, backbone_head: str) -> frozenset[str]:
        """The settings the head to train never reads (a centroid reads no epochs): changing them changes nothing."""
        return frozenset().union(*HEAD_SETTINGS.values()) - HEAD_SETTINGS[self.head_kind(backbone_head)]

    def as_trained(self, backbone_head: str) -> TrainParams:
        """These settings as the model sees them: the head resolved, and the settings it never reads at their
        defaults, so that two settings that train the same model compare equal."""
        unread = self.unread(backbone_head)
        defaults = {item.name: item.default for item in fields(TrainParams) if item.name in unread}
        return replace(self, head=self.head_kind(backbone_head), **defaults)

    def __post_init__(self) -> None:
        _require("epochs", self.epochs, 1 <= self.epochs <= 10_000, "1 to 10000")
        _require("batch_size", self.batch_size, 1 <= self.batch_size <= 8192, "1 to 8192")
        _require("learning_rate", self.learning_rate, 0 < self.learning_rate <= 1, "more than 0, at most 1")
        _require("dense_units", self.dense_units, 1 <= self.dense_units <= 8192, "1 to 8192")
        _require("dropout", self.dropout, 0 <= self.dropout < 1, "0 up to (not including) 1")
        _require("validation_share", self.validation_share, 0 <= self.validation_share <= 0.5, "0 to 0.5")
        _require(
            "early_stopping_patience",
            self.early_stopping_patience,
            self.early_stopping_patience >= 0,
            "0 (off) or more epochs",
        )


@dataclass(frozen=True)
class Tweak:
    """One retraining attempt: a name and the params it overrides (`train.epochs: 80`)."""

    name: str
    overrides: Mapping[str, Any]

    def set_args(self) -> list[str]:
        """`-S key=value` arguments for `dvc exp run`, values in YAML's flow style."""
        import yaml

        args = []
        for key, value in self.overrides.items():
            args += [
                "-S",
                f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}",
            ]
        return args


DEFAULT_SCHEDULE = (  # tried in order as DVC experiments; stops at the first that passes
    {"name": "more-epochs", "set": {"train.epochs": 80}},
    {"name": "lower-learning-rate", "set": {"train.epochs": 80, "train.learning_rate": 0.0003}},
    {"name": "bigger-head", "set": {"train.epochs": 80, "train.dense_units": 512, "train.dropout": 0.6}},
    {"name": "more-augmentation", "set": {"train.epochs": 80, "train.augment.copies": 2}},
    {"name": "face-backbone", "set": {"train.backbone": "dlib_resnet", "train.epochs": 60}},
)


@dataclass(frozen=True)
class RetrainParams:
    threshold: float = 0.90
    metric: Literal["accuracy", "macro_f1", "open_set_accuracy"] = "accuracy"  # a key of metrics/eval.json
    max_attempts: int = 5
    schedule: tuple = DEFAULT_SCHEDULE  # of {"name": ..., "set": {"train.epochs": 80, ...}}

    def __post_init__(self) -> None:
        _require("threshold", self.threshold, 0 < self.threshold <= 1, "more than 0, at most 1")
        _require("max_attempts", self.max_attempts, 0 <= self.max_attempts <= 50, "0 to 50")
        self.tweaks()  # a malformed schedule is refused with the rest

    def tweaks(self, all_entries: bool = False) -> list[Tweak]:
        """The attempts to run (the first max_attempts entries), or with `all_entries` every entry."""
        tweaks = []
        for i, entry in enumerate(self.schedule):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("set"), Mapping) or not entry.get("name"):
                raise ValueError(f"schedule[{i}] is {entry!r}; allowed: a name and a set of overrides")
            extra = sorted(set(entry) - {"name", "set"})
            if extra:
                raise ValueError(f"schedule[{i}].{extra[0]} is {entry[extra[0]]!r}; allowed: only name and set")
            tweaks.append(Tweak(str(entry["name"]), dict(entry["set"])))
        return tweaks if all_entries else tweaks[: self.max_attempts]


@dataclass(frozen=True)
class PromoteParams:
    """The release gate: a trained candidate replaces the live model only if it passes every check.

    `retrain.threshold` is the goal retraining aims for; `min_metric` is the floor below which nothing goes
    live at all. A limit of 1 switches its check off.
    """

    min_metric: float = 0.5  # retrain.metric (test accuracy) the candidate must reach
    max_false_accept_rate: float = 0.05  # strangers given a name, at most
    max_recall_drop: float = 0.2  # largest fall of any one person's recall against the live model
    max_false_reject_rate: float = 0.2  # known test faces answered "unknown", at most
    significance: float = 0.05  # refuse when worse than live on the same faces at this level (0: not checked)

    def __post_init__(self) -> None:
        _require("min_metric", self.min_metric, 0 <= self.min_metric <= 1, "0 to 1")
        _require("max_false_accept_rate", self.max_false_accept_rate, 0 <= self.max_false_accept_rate <= 1, "0 to 1")
        _require("max_recall_drop", self.max_recall_drop, 0 <= self.max_recall_drop <= 1, "0 to 1")
        _require("max_false_reject_rate", self.max_false_reject_rate, 0 <= self.max_false_reject_rate <= 1, "0 to 1")
        _require("significance", self.significance, 0 <= self.significance <= 0.5, "0 (not checked) to 0.5")


@dataclass(frozen=True)
class ReportParams:
    """Who gets the accuracy report, and the SMTP server's non-secret settings.

    These travel with the repository, so they reach a build container that never sees the
    controller's environment; FACEOPS_SMTP_* variables override them, and the login comes only from
    FACEOPS_SMTP_USER / FACEOPS_SMTP_PASSWORD.
    """

    recipients: tuple[str, ...] = ()
    smtp_host: str = ""
    smtp_port: int | None = None  # default by security: 587 starttls, 465 ssl, 25 none
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = ""
    deadline: float = 180.0  # seconds for the whole exchange with the SMTP server; then the send fails, saying so

    def __post_init__(self) -> None:
        _require("deadline", self.deadline, 1 <= self.deadline <= 3600, "1 to 3600 seconds")
        for address in self.recipients:
            _require(
                "recipients",
                address,
                isinstance(address, str) and _looks_like_address(address),
                "e-mail addresses like name@example.org",
            )
        if self.smtp_port is not None:
            _require("smtp_port", self.smtp_port, 1 <= self.smtp_port <= 65535, "1 to 65535")
        if self.sender:
            _require("sender", self.sender, _looks_like_address(self.sender), "an e-mail address")


def _looks_like_address(text: str) -> bool:
    local, at, domain = text.strip().rpartition("@")
    return bool(at and local and domain and " " not in text.strip() and "," not in text)


def parse_addresses(values: list[str] | tuple[str, ...] | str | None, where: str) -> list[str]:
    """Comma-separated or repeated addresses, each checked; `where` names the option in errors."""
    if isinstance(values, str):
        values = [values]
    found = [address.strip() for value in values or [] for address in value.split(",") if address.strip()]
    for address in found:
        if not _looks_like_address(address):
            raise FaceopsError(f"{where}: {address!r} is not an e-mail address")
    return found


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    base: BaseParams = field(default_factory=BaseParams)
    faces: FacesParams = field(default_factory=FacesParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    split: SplitParams = field(default_factory=SplitParams)
    train: TrainParams = field(default_factory=TrainParams)
    promote: PromoteParams = field(default_factory=PromoteParams)
    retrain: RetrainParams = field(default_factory=RetrainParams)
    report: ReportParams = field(default_factory=ReportParams)


def load_params(
    path: str | os.PathLike[str] = PARAMS_FILE, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Params:
    """Read and check the whole of params.yaml; `overrides` replace single keys per section (CLI options)."""
    data = read_sections(path)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    params = from_mapping(Params, data, "", source=str(path))
    for i, tweak in enumerate(params.retrain.tweaks(all_entries=True)):
        check_tweak(data, tweak, f"{path}: retrain.schedule[{i}] ({tweak.name})")
    return params


def read_sections(path: str | os.PathLike[str] = PARAMS_FILE) -> dict[str, dict[str, Any]]:
    """params.yaml's sections as plain mappings, unchecked: what `dvc exp run -S` changes (load_params checks)."""
    data = load_params_file(path)
    if not isinstance(data, Mapping):
        raise FaceopsError(f"{path}: expected sections (base, faces, …), found {type(data).__name__}")
    for section, values in data.items():
        if values is not None and not isinstance(values, Mapping):
            raise FaceopsError(f"{path}: {section} is {values!r}; allowed: a section of `key: value` lines")
    return {section: dict(values or {}) for section, values in data.items()}


def check_tweak(data: Mapping[str, Any], tweak: Tweak, where: str) -> Params:
    """params.yaml as `dvc exp run -S` would leave it for this attempt, checked whole before any attempt runs."""
    import copy

    changed = copy.deepcopy(dict(data))
    for key, value in tweak.overrides.items():
        *sections, name = str(key).split(".")
        place: Any = changed
        for part in sections:
            place = place.setdefault(part, {}) if isinstance(place, dict) else None
        if not sections or not isinstance(place, dict):
            raise FaceopsError(f"{where}: {key} is not a setting; allowed: section.key, e.g. train.epochs")
        place[name] = value
    return from_mapping(Params, changed, "", source=where)
