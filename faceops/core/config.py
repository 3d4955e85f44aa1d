"""Turn a mapping read from YAML or JSON into a frozen dataclass, with errors that name the key and the file."""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from faceops.core.errors import FaceopsError

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
        args = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(_accepts(args[0], item) for item in value if args)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, section: str, source: str = "params.yaml") -> T:
    """Build `cls` from `mapping`; unknown keys, wrong types and values out of range are errors naming
    `section.key` in `source` (the file they came from).

    Nested dataclass fields are built recursively, so `train.augment.flip` works as expected. A
    dataclass refuses a value in `__post_init__` with a ValueError that starts with the field's name.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        raise FaceopsError(f"{source}: {section or 'the file'} should hold keys and values, found {mapping!r}")
    mapping = dict(mapping or {})
    prefix = f"{section}." if section else ""
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        what = f"setting {prefix}{unknown[0]}" if section else f"section {unknown[0]}"
        close = difflib.get_close_matches(str(unknown[0]), sorted(names), n=1)
        hint = f"did you mean {prefix}{close[0]}? " if close else ""
        raise FaceopsError(f"{source}: unknown {what} ({hint}known: {', '.join(sorted(names))})")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in mapping:
            continue
        value = mapping[field.name]
        hint = hints[field.name]
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(hint):
            values[field.name] = from_mapping(hint, value, key, source)
            continue
        if not _accepts(hint, value):
            raise FaceopsError(f"{source}: {key} is {value!r}, expected {_describe(hint)}")
        values[field.name] = _convert(hint, value)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise FaceopsError(f"{source}: {prefix}{exc}") from None


def _convert(hint: Any, value: Any) -> Any:
    """ints where floats are wanted become floats; lists become tuples (settings are frozen)."""
    if hint is float and isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        args = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
        return tuple(_convert(args[0] if args else Any, item) for item in value)
    return value


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def load_params_file(path: str | os.PathLike[str] = "params.yaml") -> dict:
    """Read params.yaml as plain data; `faceops.core.params.load_params` turns it into typed settings."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")  # as DVC reads it, whatever the locale
    except FileNotFoundError:
        raise FaceopsError(f"{path.resolve()}: not found; run from the repository root") from None
    except UnicodeDecodeError as exc:
        raise FaceopsError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:  # a folder, no permission: a traceback before, one line now
        raise FaceopsError(f"{path}: cannot be read ({exc.strerror or exc}); it must be a YAML file") from None
    try:
        return yaml.load(text, Loader=_strict_loader(str(path))) or {}
    except yaml.YAMLError as exc:
        raise FaceopsError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None


def _yaml_problem(exc: Exception) -> str:
    """PyYAML's several-line report (the problem, then the offending line quoted) as one line: where, and what."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())


# YAML 1.2 core schema, as DVC (ruamel.yaml) reads params.yaml: `1e-05` is a float, `017` is 17, `yes` a string.
_YAML12 = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
)


def _strict_loader(source: str) -> type:
    """A PyYAML SafeLoader that reads YAML 1.2 scalars and refuses duplicate keys, anchors and aliases.

    Why: DVC reads params.yaml with YAML 1.2 and refuses duplicate keys, so a file we read differently
    would train with settings DVC does not record; an alias bomb would take gigabytes before any check.
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1
                raise FaceopsError(f"{source}: line {line}: anchors and aliases (&, *) are not allowed in params")
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise FaceopsError(f"{source}: line {line}: duplicate key {key!r} (DVC refuses the file too)")
                seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node: Any) -> int:
            text = self.construct_scalar(node)
            base = {"0o": 8, "0x": 16}.get(text[:2], 10)
            return int(text[2:] if base != 10 else text, base)

        def construct_yaml_float(self, node: Any) -> float:
            text = self.construct_scalar(node).lower()
            return float(text.replace(".inf", "inf").replace(".nan", "nan"))

        def construct_yaml_bool(self, node: Any) -> bool:
            return self.construct_scalar(node).lower() == "true"

    for tag, pattern, first in _YAML12:
        Loader.add_implicit_resolver(tag, re.compile(pattern), list(first))
    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    Loader.add_constructor("tag:yaml.org,2002:float", Loader.construct_yaml_float)
    Loader.add_constructor("tag:yaml.org,2002:bool", Loader.construct_yaml_bool)
    return Loader
