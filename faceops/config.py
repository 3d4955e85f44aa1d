"""Turn one section of params.yaml into a frozen dataclass, with errors that name the key."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from faceops.errors import FaceopsError

T = TypeVar("T")


def _accepts(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, section: str) -> T:
    """Build `cls` from `mapping`; unknown keys and wrong types are errors naming `section.key`.

    Nested dataclass fields are built recursively, so `train.augment.flip` works as expected.
    """
    mapping = dict(mapping or {})
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise FaceopsError(
            f"params.yaml: unknown setting {section}.{unknown[0]} (known: {', '.join(sorted(names))})"
        )
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in mapping:
            continue
        value = mapping[field.name]
        hint = hints[field.name]
        key = f"{section}.{field.name}"
        if dataclasses.is_dataclass(hint):
            values[field.name] = from_mapping(hint, value, key)
            continue
        if not _accepts(hint, value):
            raise FaceopsError(f"params.yaml: {key} is {value!r}, expected {_describe(hint)}")
        if hint is float and isinstance(value, int):
            value = float(value)
        if isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise FaceopsError(f"params.yaml: section {section}: {exc}") from None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


@dataclasses.dataclass(frozen=True)
class BaseParams:
    """Settings that several stages share: the face crop size and the random seed."""

    image_size: int = 96
    seed: int = 42


def load_params_file(path: str | os.PathLike[str] = "params.yaml") -> dict:
    """Read params.yaml. Only entry points (stages, the CLI) call this; they pass values down."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FaceopsError(f"{path.resolve()}: not found; run from the repository root") from None
    except yaml.YAMLError as exc:
        raise FaceopsError(f"{path}: not valid YAML ({exc})") from None
