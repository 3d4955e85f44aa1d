from dataclasses import dataclass, field

import pytest

from faceops.core.config import from_mapping
from faceops.core.errors import FaceopsError
from faceops.core.params import FacesParams, TrainParams


def test_defaults_fill_missing_keys():
    params = from_mapping(FacesParams, {"margin": 0.3}, "faces")
    assert params.margin == 0.3
    assert params.min_neighbors == FacesParams().min_neighbors


def test_unknown_key_names_section_and_key():
    with pytest.raises(FaceopsError, match=r"unknown setting faces\.margn"):
        from_mapping(FacesParams, {"margn": 0.3}, "faces")


def test_wrong_type_names_key():
    with pytest.raises(FaceopsError, match=r"train\.epochs is 'ten', expected int"):
        from_mapping(TrainParams, {"epochs": "ten"}, "train")


def test_literal_lists_choices():
    with pytest.raises(FaceopsError, match=r"faces\.multiple_faces is 'all', expected one of 'largest', 'reject'"):
        from_mapping(FacesParams, {"multiple_faces": "all"}, "faces")


def test_nested_section_and_int_as_float():
    params = from_mapping(TrainParams, {"weights": None, "learning_rate": 1, "augment": {"copies": 2}}, "train")
    assert params.weights is None
    assert params.learning_rate == 1.0 and isinstance(params.learning_rate, float)
    assert params.augment.copies == 2 and params.augment.flip == "auto"
    with pytest.raises(FaceopsError, match=r"train\.augment\.copies is 'x'"):
        from_mapping(TrainParams, {"augment": {"copies": "x"}}, "train")


def test_invalid_value_is_reported():
    with pytest.raises(FaceopsError, match=r"^params.yaml: train.epochs is 0; allowed: 1 to 10000$"):
        from_mapping(TrainParams, {"epochs": 0}, "train")


def test_frozen():
    @dataclass(frozen=True)
    class Small:
        values: tuple = field(default_factory=tuple)

    params = from_mapping(Small, {"values": [1, 2]}, "small")
    assert params.values == (1, 2)
    with pytest.raises(AttributeError):
        params.values = ()  # type: ignore[misc]
