"""Cached base features: the frozen base runs once per image (and augmented variant), ever.

Retraining the head, or adding a few photos, then costs seconds instead of a pass of VGG16 over
every image. The cache is keyed by the extractor (base, weights, image size), the variant and
each face file's sha256, so a change to any of them is a miss, never a stale hit. Each file
carries a checksum of its contents: a damaged file is named once, recomputed and replaced,
never trained on. Progress is saved as it goes (after a few hundred faces, then each time as many again as the
file holds: a large set is written in a few large chunks, not rewritten every few hundred faces), so an
interrupted run keeps most of it.

Faces read from crops (VGG16) go through the extractor's input pipeline (`FeatureExtractor.stream`: parallel
decoding, batches for the device, the network compiled once); faces made from the source photo (dlib) go to
worker processes in chunks, or, when FACEOPS_DASK_SCHEDULER names a Dask cluster, to its workers as tasks that
carry the source photos' bytes and bring back the features (`faceops.core.cluster`, as the faces stage does).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceops.core.atomic import atomic_path
from faceops.core.cluster import map_on_cluster, scheduler_address
from faceops.core.errors import FaceopsError
from faceops.core.parallel import map_chunks, worker_count
from faceops.core.params import AugmentParams
from faceops.data.detect import Box
from faceops.data.images import decode_image, load_image
from faceops.model.backbones import FeatureExtractor, Inputs, get_backbone

log = logging.getLogger(__name__)

WORKER_CHUNK = 32  # faces a worker process is handed at a time
Batches = Iterator[tuple[list[str], np.ndarray]]  # (the faces' sha256, their features), chunk by chunk


@dataclass(frozen=True)
class FaceFile:
    """One face of the manifest: its crop (whose sha256 keys the cache), and the photo and box it came from."""

    sha256: str
    crop: str
    source: str = ""
    box: str = ""  # "x,y,width,height" in the source photo

    @classmethod
    def rows(cls, table: pd.DataFrame) -> list[FaceFile]:
        """The faces of a manifest or split table."""
        columns = [table[name].astype(str).tolist() for name in ("sha256", "path", "source", "box")]
        return [cls(*values) for values in zip(*columns)]


@dataclass(frozen=True)
class Variant:
    """One deterministic view of an image: the original, its mirror, or a seeded jitter.

    Plain data (no closures), so that worker processes can be handed it.
    """

    kind: str = "original"  # original, flip or jitter
    augment: AugmentParams | None = None
    seed: int = 0
    copy: int = 0

    @property
    def key(self) -> str:
        if self.kind != "jitter" or self.augment is None:
            return self.kind
        a = self.augment
        return f"jitter{self.copy}|seed{self.seed}|{a.rotation}|{a.shift}|{a.zoom}|{a.brightness}"

    @property
    def label(self) -> str:
        return self.key.split("|")[0]

    def apply(self, image: np.ndarray, sha: str) -> np.ndarray:
        if self.kind == "flip":
            return image[:, ::-1]
        if self.kind != "jitter" or self.augment is None:
            return image
        import cv2

        a = self.augment
        rng = np.random.default_rng([self.seed, self.copy, int(sha[:12], 16)])
        size = image.shape[0]
        angle = rng.uniform(-a.rotation, a.rotation)
        scale = 1 + rng.uniform(-a.zoom, a.zoom)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-a.shift, a.shift, size=2) * size
        moved = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        factor = 1 + rng.uniform(-a.brightness, a.brightness)
        return np.clip(moved.astype("float32") * factor, 0, 255).astype("uint8")


ORIGINAL = Variant()


def training_variants(params: AugmentParams, seed: int, backbone: str) -> list[Variant]:
    """The views of each training face: the original, a mirror where train.augment.flip (and, for "auto", the
    backbone) asks for one, and the jittered copies."""
    variants = [ORIGINAL]
    if params.mirrors(get_backbone(backbone).mirrors_help):
        variants.append(Variant("flip"))
    variants.extend(Variant("jitter", params, seed, copy) for copy in range(params.copies))
    return variants


def load_face(path: str, size: int) -> np.ndarray:
    """A crop of the faces stage, refused (naming the file) when its size is not what the model expects."""
    image = load_image(path)
    if image.shape[:2] != (size, size):
        raise FaceopsError(
            f"{path}: face is {image.shape[1]}x{image.shape[0]} px, the model expects {size}x{size}; "
            "re-run the faces stage"
        )
    return image


def network_input(extractor: FeatureExtractor, face: FaceFile, photos: Mapping[str, bytes] | None = None) -> np.ndarray:
    """What the extractor describes for one face: from the source photo (dlib: a chip aligned at full
    resolution) or the faces stage's crop (VGG16). `photos`: the source photos' bytes by path, on a cluster
    worker (which does not see this host's files); decoded as `load_image` decodes the file."""
    if extractor.from_photo:
        if not face.source or not face.box:
            raise FaceopsError(f"{face.crop}: the manifest names no source photo and box; re-run the faces stage")
        rgb = load_image(face.source) if photos is None else decode_image(photos[face.source], face.source)
        return extractor.inputs_from_photo(rgb, [Box.parse(face.box)])[0]
    return load_face(face.crop, extractor.image_size)


def compute_features(
    extractor: FeatureExtractor,
    variant: Variant,
    faces: Sequence[FaceFile],
    photos: Mapping[str, bytes] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Features of some faces; the unit of work a worker process (or, with `photos`, a cluster worker) is given."""
    inputs = np.stack([variant.apply(network_input(extractor, face, photos), face.sha256) for face in faces])
    return [face.sha256 for face in faces], np.asarray(extractor(inputs), dtype="float32")


def features_from_bytes(
    extractor: FeatureExtractor, variant: Variant, shipped: tuple[list[FaceFile], dict[str, bytes]]
) -> tuple[list[str], np.ndarray]:
    """On a cluster worker: `compute_features` of a chunk of faces, their source photos given as bytes."""
    faces, photos = shipped
    return compute_features(extractor, variant, faces, photos)


def with_photo_bytes(faces: list[FaceFile]) -> tuple[list[FaceFile], dict[str, bytes]]:
    """A chunk as it travels to a cluster worker: the faces, and each source photo's bytes once."""
    return faces, {face.source: Path(face.source).read_bytes() for face in faces}


def key_digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def table_checksum(shas: Sequence[str], features: np.ndarray) -> str:
    digest = hashlib.sha256("\n".join(shas).encode())
    digest.update(np.ascontiguousarray(features, dtype="float32").tobytes())
    return digest.hexdigest()


class FeatureCache:
    """One .npz file per (extractor, variant), holding a sha256 -> feature vector table and its checksum."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        batch_size: int | None = None,
        workers: int | None = None,
        save_every: int = 256,
        min_faces_for_workers: int = 48,
    ) -> None:
        self.directory = Path(directory)
        self.batch_size = batch_size  # None: the extractor's choice for its device (WORKER_CHUNK for workers)
        self.workers = workers
        self.save_every = save_every
        # Fewer faces are computed in this process: starting a worker (interpreter, dlib's models) costs ~1 s.
        self.min_faces_for_workers = min_faces_for_workers
        self.hits = 0
        self.misses = 0
        self.damaged: list[Path] = []  # files found damaged (and recomputed), each named once in the log

    def _file(self, extractor: FeatureExtractor, variant: Variant) -> Path:
        return self.directory / f"{key_digest(extractor.key, variant.key)}.npz"

    def _load(self, path: Path, n_features: int) -> dict[str, np.ndarray]:
        if not path.exists():
            return {}
        try:
            with np.load(path, allow_pickle=False) as stored:
                shas, features = stored["sha256"], stored["features"]
                checksum = str(stored["checksum"]) if "checksum" in stored.files else None
            problem = _table_problem(shas, features, checksum, n_features)
        except Exception as exc:  # noqa: BLE001 - zipfile, zlib, numpy and OS errors alike mean "damaged"
            problem = f"unreadable: {type(exc).__name__}: {exc}"
        if problem is None:
            return dict(zip(shas.tolist(), features))
        if path not in self.damaged:
            self.damaged.append(path)
            log.warning("feature cache %s is damaged (%s); recomputing its features", path, problem)
        return {}

    def features(
        self, extractor: FeatureExtractor, faces: Sequence[FaceFile], variant: Variant = ORIGINAL
    ) -> np.ndarray:
        """Features for each face, computing only those not cached yet."""
        path = self._file(extractor, variant)
        table = self._load(path, extractor.n_features)
        todo = sorted(
            {face.sha256: face for face in faces if face.sha256 not in table}.values(), key=lambda f: f.sha256
        )
        missing = sum(face.sha256 not in table for face in faces)
        self.hits += len(faces) - missing
        self.misses += missing
        if todo:
            self._compute(extractor, variant, todo, table, path)
        if not faces:
            return np.zeros((0, extractor.n_features), dtype="float32")
        return np.stack([table[face.sha256] for face in faces])

    def _compute(
        self,
        extractor: FeatureExtractor,
        variant: Variant,
        todo: list[FaceFile],
        table: dict[str, np.ndarray],
        path: Path,
    ) -> None:
        """Fill `table` with the features of `todo`, saving as it goes (`save_every` faces, then each time as many
        again as the file holds) and on the way out."""
        if extractor.from_photo:
            batches, how = self._in_processes(extractor, variant, todo)
        else:
            batches, how = self._streamed(extractor, variant, todo)
        unsaved = 0
        with tqdm(total=len(todo), desc=f"features ({variant.label})", unit="face", disable=None) as bar:
            try:
                for done_shas, vectors in batches:
                    table.update(zip(done_shas, vectors))
                    bar.update(len(done_shas))
                    unsaved += len(done_shas)
                    if unsaved >= max(self.save_every, len(table) - unsaved):
                        self._save(path, table)
                        unsaved = 0
            finally:
                if unsaved:
                    self._save(path, table)
        log.info("features (%s): %d computed %s", variant.label, len(todo), how)

    def _in_processes(self, extractor: FeatureExtractor, variant: Variant, todo: list[FaceFile]) -> tuple[Batches, str]:
        """Chunks of faces made from their source photos: on the Dask cluster of FACEOPS_DASK_SCHEDULER when set,
        else in worker processes where the extractor allows. The chunks are the same either way, so are the
        features, to the byte."""
        size = self.batch_size or WORKER_CHUNK
        chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
        address = scheduler_address() if extractor.parallel else None
        if address is not None:
            task = partial(features_from_bytes, extractor, variant)
            what = f"features ({variant.label})"
            return map_on_cluster(address, task, chunks, with_photo_bytes, what), f"on the Dask cluster at {address}"
        few = len(todo) < self.min_faces_for_workers
        workers = 1 if few or not extractor.parallel else min(self.workers or worker_count(), len(chunks))
        return map_chunks(partial(compute_features, extractor, variant), chunks, workers), f"with {workers} process(es)"

    def _streamed(self, extractor: FeatureExtractor, variant: Variant, todo: list[FaceFile]) -> tuple[Batches, str]:
        """The crops through the extractor's input pipeline: the files decoded by the pipeline itself for the
        original and the mirror, through `Variant.apply` for a jitter. Always on this host, with or without a Dask
        cluster: the GPU and tf.data's parallel decoding are this path's speed, and a crop is all it reads."""

        def load(item: int) -> np.ndarray:
            face = todo[item]
            return variant.apply(network_input(extractor, face), face.sha256)[None]

        files = [face.crop for face in todo] if variant.kind in ("original", "flip") else None
        inputs = Inputs(len(todo), load, files, mirror=variant.kind == "flip")
        batches = (
            ([todo[i].sha256 for i in items], vectors) for items, vectors in extractor.stream(inputs, self.batch_size)
        )
        return batches, f"through the input pipeline ({extractor.precision})"

    @staticmethod
    def _save(path: Path, table: dict[str, np.ndarray]) -> None:
        shas = sorted(table)
        features = np.stack([table[s] for s in shas]).astype("float32")
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, sha256=np.array(shas), features=features, checksum=table_checksum(shas, features))


def forget_features(path: str | os.PathLike[str], shas: set[str], dry_run: bool = False) -> list[str]:
    """Remove the rows of these faces from one feature-cache file (rewritten atomically); the rows found.

    A damaged file is removed whole: it cannot be trusted to not hold them, and is recomputed on demand."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            table = dict(zip(stored["sha256"].tolist(), stored["features"]))
    except Exception:  # noqa: BLE001 - as in FeatureCache._load: unreadable means damaged
        if not dry_run:
            path.unlink(missing_ok=True)
        return [f"(damaged file {path.name})"]
    found = sorted(shas & set(table))
    if found and not dry_run:
        for sha in found:
            del table[sha]
        if table:
            FeatureCache._save(path, table)
        else:
            path.unlink()
    return found


def _table_problem(shas: np.ndarray, features: np.ndarray, checksum: str | None, n_features: int) -> str | None:
    """Why a stored table cannot be trusted, or None."""
    if checksum is None:
        return "no checksum (written by an older faceops)"
    if features.ndim != 2 or features.shape != (len(shas), n_features):
        return f"features of shape {features.shape}, expected ({len(shas)}, {n_features})"
    if features.dtype != np.float32 or shas.dtype.kind != "U":
        return f"unexpected types {shas.dtype}/{features.dtype}"
    if table_checksum(shas.tolist(), features) != checksum:
        return "checksum mismatch"
    if not np.isfinite(features).all():
        return "values that are not finite"
    return None
