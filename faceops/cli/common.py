"""What several command groups share: argument types, the --records help, recording new data with dvc and git."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceops.data.detect import FaceDetector

RECORDS_HELP = (
    "where waiting crops, feedback and the recognition log are: a folder, or remote://NAME/PATH for the DVC "
    "remote NAME's bucket, shared by service replicas (default: FACEOPS_RECORDS, else this project)"
)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return value


def number_in(kind: type, lowest: float | None = None, highest: float | None = None) -> Callable[[str], float]:
    """An argparse type: a whole number (kind int) or a finite number within [lowest, highest]; else exit 2
    with a line naming the value and what is allowed."""
    allowed = {int: "a whole number", float: "a number"}[kind]
    if lowest is not None and highest is not None:
        allowed += f" from {lowest} to {highest}"
    elif lowest is not None:
        allowed += f" of {lowest} or more"
    elif highest is not None:
        allowed += f" of {highest} or less"

    def parse(text: str) -> float:
        try:
            value = kind(text.strip())
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not _within(value, lowest, highest):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give {allowed}")
        return value

    parse.__name__ = f"{kind.__name__} in range"
    return parse


def _within(value: float, lowest: float | None, highest: float | None) -> bool:
    return (lowest is None or value >= lowest) and (highest is None or value <= highest)


def optional_float(text: str) -> float | None:
    """A number, or nothing for an empty string (a Jenkins parameter left blank)."""
    if not text.strip():
        return None
    return number_in(float, 0, 1)(text)  # a threshold on a metric in [0, 1]


def record_new_data(steps: list[list[str]], commit: bool) -> None:
    """Run the dvc/git steps that record new data (with `commit`), or print them as the next thing to do."""
    from faceops.core import dvc, tools

    if commit:
        for step in steps:
            dvc.run(*step[1:]) if step[0] == "dvc" else tools.git(*step[1:])
        print("committed; next: git push && dvc push (the on-push job retrains), or dvc repro here")
    else:
        print(
            "next: "
            + " && ".join(" ".join(f"'{a}'" if " " in a else a for a in step) for step in steps)
            + " && git push && dvc push; then dvc repro"
        )


def project_detector(params: str) -> FaceDetector:
    """The faces stage's face detector (its settings in `params`; outside a project, their defaults), so that the
    gates of capture, enrol and feedback accept see faces as the faces stage will."""
    from pathlib import Path

    from faceops.core.params import FacesParams, load_params
    from faceops.data.detect import FaceDetector

    return FaceDetector(load_params(params).faces if Path(params).exists() else FacesParams())
