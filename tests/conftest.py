"""Shared fixtures: the real LFW photos from ../shared. Helpers live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import LFW


@pytest.fixture(scope="session")
def lfw() -> Path:
    if not LFW.is_dir():
        pytest.fail(f"{LFW}: the shared LFW data set is missing; set FACEOPS_LFW to its folder")
    return LFW


@pytest.fixture(scope="session")
def lfw_photo(lfw: Path) -> Path:
    return lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"
