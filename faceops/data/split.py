"""The `split` stage: a stratified, seeded train/test split in which no image is on both sides."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection

import numpy as np
import pandas as pd

from faceops.core.atomic import atomic_open
from faceops.core.errors import FaceopsError


def split_manifest(manifest: pd.DataFrame, test_size: float, seed: int, left_out: Collection[str] = ()) -> pd.DataFrame:
    """Return the manifest with a `subset` column of 'train', 'test' or 'stranger'.

    Everyone is trained on but the `left_out` people (too few photos yet, says validation): all their faces
    are 'stranger', faces of people outside the model that evaluation counts false accepts on.

    Identical images (same sha256) form one group that goes to one side only, so a duplicate
    cannot leak the answer from train into test. Each person keeps about `test_size` of their
    groups in test, and at least one group on each side when they have two or more.

    Order comes from a seeded hash of each image (and person), not from a shuffle of the whole
    list, so adding photos leaves the others where they were, give or take one at each boundary:
    models stay comparable across data versions, and the feature cache keeps hitting.
    """
    if manifest.empty:
        raise FaceopsError("the face manifest is empty: no faces to split")
    outsiders = set(left_out)
    stranger_shas = set(manifest.loc[manifest["person"].isin(outsiders), "sha256"])
    known = manifest[~manifest["sha256"].isin(stranger_shas)]
    groups = known.groupby("sha256", sort=True)["person"].agg(lambda people: people.value_counts().index[0])
    test_groups: set[str] = set()
    for person in sorted(groups.unique()):
        shas = sorted(groups.index[groups == person], key=lambda sha: _rank(seed, sha))
        n_test = int(round(len(shas) * test_size))
        n_test = min(max(n_test, 1), len(shas) - 1) if len(shas) >= 2 else 0
        test_groups.update(shas[:n_test])
    result = manifest.copy()
    result["subset"] = np.where(
        result["sha256"].isin(stranger_shas), "stranger", np.where(result["sha256"].isin(test_groups), "test", "train")
    )
    return result


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def write_split(split: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the split CSV atomically, with "\\r\\n" rows as the csv module writes data/faces.csv.

    pandas' default "\\n" rows leave a field with a lone "\\r" (a photo's file name may hold one) unquoted,
    and reading it back splits the row, so that face silently drops out of training."""
    with atomic_open(path, "w", newline="") as handle:
        split.to_csv(handle, index=False, lineterminator="\r\n")
