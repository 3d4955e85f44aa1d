"""What every stage script shares: reading its params.yaml section and turning errors into one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from faceops.config import BaseParams, from_mapping, load_params_file
from faceops.errors import FaceopsError

T = TypeVar("T")


def read_params(section: str, cls: type[T]) -> T:
    """DVC runs stages from the repository root, where params.yaml is."""
    return from_mapping(cls, load_params_file("params.yaml").get(section), section)


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
