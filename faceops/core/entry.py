"""What every stage entry point shares: its log format, and user errors as one line with exit status 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from faceops.core.errors import FaceopsError


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main: logs go to stderr under the stage's name; a FaceopsError is one `error:` line."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s", stream=sys.stderr)
    try:
        main()
    except FaceopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
