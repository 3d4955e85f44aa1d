"""Helpers of tests/*/test_inventory.py, shared by its tiers."""

import shutil
from pathlib import Path

NAME = "Quentin_Forgetme"  # a name no source file holds, so that any finding is data of theirs


SOURCE = "Gerhard_Schroeder"  # whose LFW photos they are given


def _their_photos(lfw: Path, folder: Path, count: int) -> Path:
    """LFW photos of SOURCE, filed as NAME in a folder tree for import-folder."""
    (folder / NAME).mkdir(parents=True)
    for index, photo in enumerate(sorted((lfw / SOURCE).iterdir())[:count]):
        shutil.copy(photo, folder / NAME / f"{NAME}_{index:04d}.jpg")
    return folder
