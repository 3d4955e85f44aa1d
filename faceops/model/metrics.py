"""The metrics files of the train and evaluate stages, as typed records: what they hold, written and read one way.

metrics/eval.json (the live model's scores) and metrics/candidate.json (the last candidate's) are an
`EvaluationMetrics`; metrics/train.json is a `TrainMetrics`. Read back, each field is checked (a bad file is one
line naming the file and the field); fields newer than a file (an older commit's metrics) read as None.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faceops.core.atomic import write_json
from faceops.core.contracts import MISSING_FILE, Fields, parse_fields, read_fields


@dataclass(frozen=True)
class EvaluationMetrics:
    """A model's scores on the test faces (and the strangers), as faceops.model.evaluate measures them."""

    accuracy: float
    macro_f1: float | None = None
    open_set_accuracy: float | None = None
    false_reject_rate: float | None = None
    false_accept_rate: float | None = None  # None also when no stranger face could measure it
    far_interval: tuple[float, ...] | None = None  # its 95 % interval
    false_accepts: int | None = None
    unknown_threshold: float | None = None
    test_faces: int | None = None
    stranger_faces: int | None = None
    people: int | None = None
    backbone: str | None = None
    weights: str | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> EvaluationMetrics:
        optional = {"required": False}
        return cls(
            accuracy=fields.number("accuracy"),
            macro_f1=fields.number("macro_f1", **optional),
            open_set_accuracy=fields.number("open_set_accuracy", **optional),
            false_reject_rate=fields.number("false_reject_rate", **optional),
            false_accept_rate=fields.number("false_accept_rate", required=False, nullable=True),
            far_interval=fields.numbers("far_interval", **optional),
            false_accepts=fields.integer("false_accepts", **optional),
            unknown_threshold=fields.number("unknown_threshold", **optional),
            test_faces=fields.integer("test_faces", **optional),
            stranger_faces=fields.integer("stranger_faces", **optional),
            people=fields.integer("people", **optional),
            backbone=fields.text("backbone", **optional),
            weights=fields.text("weights", required=False, nullable=True),
        )

    @classmethod
    def of(cls, metrics: Mapping[str, Any], where: str = "the evaluation") -> EvaluationMetrics:
        """The scores an evaluation measured (its metrics dict), checked as a reader would check them."""
        return cls.from_fields(Fields(metrics, where))

    @classmethod
    def read(cls, path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> EvaluationMetrics | None:
        """The file's scores; None only when it does not exist and `missing` is None."""
        fields = read_fields(path, missing)
        return None if fields is None else cls.from_fields(fields)

    @classmethod
    def parse(cls, text: str, where: str) -> EvaluationMetrics:
        """Scores from a file's text (as git shows it at a commit)."""
        return cls.from_fields(parse_fields(text, where))

    def value(self, name: str) -> float | None:
        """A score by its name (retrain.metric); None for a name that is not a score here."""
        value = self.to_dict().get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.far_interval is not None:
            data["far_interval"] = list(self.far_interval)
        return data

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())


@dataclass(frozen=True, kw_only=True)
class TrainMetrics:
    """What training measured: its fit, its speed and the open-set calibration (faceops.model.train)."""

    train_accuracy: float
    train_loss: float
    val_accuracy: float | None  # None: no validation part
    epochs_run: int
    people: int
    train_faces: int
    val_faces: int
    feature_seconds: float
    head_seconds: float | None = None
    cache_hits: int | None = None
    cache_misses: int | None = None
    unknown_threshold: float | None = None
    unknown_expected_frr: float | None = None
    rejections: int | None = None
    stranger_faces: int | None = None
    false_accepts: int | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> TrainMetrics:
        optional = {"required": False}
        return cls(
            train_accuracy=fields.number("train_accuracy"),
            train_loss=fields.number("train_loss"),
            val_accuracy=fields.number("val_accuracy", nullable=True),
            epochs_run=fields.integer("epochs_run"),
            people=fields.integer("people"),
            train_faces=fields.integer("train_faces"),
            val_faces=fields.integer("val_faces"),
            feature_seconds=fields.number("feature_seconds"),
            head_seconds=fields.number("head_seconds", **optional),
            cache_hits=fields.integer("cache_hits", **optional),
            cache_misses=fields.integer("cache_misses", **optional),
            unknown_threshold=fields.number("unknown_threshold", **optional),
            unknown_expected_frr=fields.number("unknown_expected_frr", **optional),
            rejections=fields.integer("rejections", **optional),
            stranger_faces=fields.integer("stranger_faces", **optional),
            false_accepts=fields.integer("false_accepts", **optional),
        )

    @classmethod
    def of(cls, metrics: Mapping[str, Any], where: str = "the training") -> TrainMetrics:
        return cls.from_fields(Fields(metrics, where))

    @classmethod
    def read(cls, path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> TrainMetrics | None:
        fields = read_fields(path, missing)
        return None if fields is None else cls.from_fields(fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())
