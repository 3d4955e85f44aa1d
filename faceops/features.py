"""Cached base features: the frozen base runs once per image (and augmented variant), ever.

Retraining the head, or adding a few photos, then costs seconds instead of a pass of VGG16 over
every image. The cache is keyed by the extractor (base, weights, image size), the variant and
each face file's sha256, so a change to any of them is a miss, never a stale hit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceops.atomic import atomic_path
from faceops.backbones import FeatureExtractor, key_digest
from faceops.errors import FaceopsError
from faceops.images import load_image
from faceops.params import AugmentParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One deterministic view of an image: the original, its mirror, or a seeded jitter."""

    key: str
    transform: Callable[[np.ndarray, str], np.ndarray] = field(compare=False)


ORIGINAL = Variant("original", lambda image, sha: image)


def _jitter(params: AugmentParams, seed: int, copy: int) -> Callable[[np.ndarray, str], np.ndarray]:
    def transform(image: np.ndarray, sha: str) -> np.ndarray:
        import cv2

        rng = np.random.default_rng([seed, copy, int(sha[:12], 16)])
        size = image.shape[0]
        angle = rng.uniform(-params.rotation, params.rotation)
        scale = 1 + rng.uniform(-params.zoom, params.zoom)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-params.shift, params.shift, size=2) * size
        moved = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        factor = 1 + rng.uniform(-params.brightness, params.brightness)
        return np.clip(moved.astype("float32") * factor, 0, 255).astype("uint8")

    return transform


def training_variants(params: AugmentParams, seed: int) -> list[Variant]:
    variants = [ORIGINAL]
    if params.flip:
        variants.append(Variant("flip", lambda image, sha: image[:, ::-1]))
    for copy in range(params.copies):
        key = f"jitter{copy}|seed{seed}|{params.rotation}|{params.shift}|{params.zoom}|{params.brightness}"
        variants.append(Variant(key, _jitter(params, seed, copy)))
    return variants


class FeatureCache:
    """One .npz file per (extractor, variant), holding a sha256 -> feature vector table."""

    def __init__(self, directory: str | os.PathLike[str], batch_size: int = 32) -> None:
        self.directory = Path(directory)
        self.batch_size = batch_size
        self.hits = 0
        self.misses = 0

    def _file(self, extractor: FeatureExtractor, variant: Variant) -> Path:
        return self.directory / f"{key_digest(extractor.key, variant.key)}.npz"

    def _load(self, path: Path) -> dict[str, np.ndarray]:
        if not path.exists():
            return {}
        try:
            with np.load(path) as stored:
                return dict(zip(stored["sha256"].tolist(), stored["features"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable feature cache %s (%s)", path, exc)
            return {}

    def features(
        self, extractor: FeatureExtractor, paths: Sequence[str], shas: Sequence[str], variant: Variant = ORIGINAL
    ) -> np.ndarray:
        """Features for each image, computing only those not cached yet."""
        path = self._file(extractor, variant)
        table = self._load(path)
        todo = sorted({sha: p for p, sha in zip(paths, shas) if sha not in table}.items())
        missing = sum(sha not in table for sha in shas)
        self.hits += len(shas) - missing
        self.misses += missing
        if todo:
            desc = f"features ({variant.key.split('|')[0]})"
            with tqdm(total=len(todo), desc=desc, unit="face", disable=None) as bar:
                for start in range(0, len(todo), self.batch_size):
                    batch = todo[start : start + self.batch_size]
                    images = np.stack(
                        [variant.transform(self._load_face(p, extractor.image_size), sha) for sha, p in batch]
                    )
                    for (sha, _), vector in zip(batch, extractor(images)):
                        table[sha] = vector
                    bar.update(len(batch))
            self._save(path, table)
        if not shas:
            return np.zeros((0, extractor.n_features), dtype="float32")
        return np.stack([table[sha] for sha in shas])

    @staticmethod
    def _load_face(path: str, size: int) -> np.ndarray:
        image = load_image(path)
        if image.shape[:2] != (size, size):
            raise FaceopsError(
                f"{path}: face is {image.shape[1]}x{image.shape[0]} px, the model expects {size}x{size}; "
                "re-run the faces stage"
            )
        return image

    def _save(self, path: Path, table: dict[str, np.ndarray]) -> None:
        shas = sorted(table)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, sha256=np.array(shas), features=np.stack([table[s] for s in shas]))
