"""What every stage script shares: reading its params.yaml section and turning errors into one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from faceops.config import BaseParams, from_mapping
from faceops.errors import FaceopsError

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")  # DVC runs stages from the repository root


def _params() -> dict:
    try:
        return yaml.safe_load(PARAMS_FILE.read_text()) or {}
    except FileNotFoundError:
        raise FaceopsError(f"{PARAMS_FILE.resolve()}: not found; run stages from the repository root") from None
    except yaml.YAMLError as exc:
        raise FaceopsError(f"{PARAMS_FILE}: not valid YAML ({exc})") from None


def read_params(section: str, cls: type[T]) -> T:
    return from_mapping(cls, _params().get(section), section)


def read_base() -> BaseParams:
    return read_params("base", BaseParams)


def run(main: Callable[[], None]) -> None:
    """Run a stage: logs to stderr with the stage's name, user errors as one line and exit 1."""
    logging.basicConfig(level=logging.INFO, format=f"{Path(sys.argv[0]).stem}: %(message)s", stream=sys.stderr)
    try:
        main()
    except FaceopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
