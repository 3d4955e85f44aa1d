"""The `faces` stage: find the face in every raw photo, crop it, and account for every photo."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from faceops.core.atomic import atomic_dir, atomic_path, write_csv, write_json
from faceops.core.errors import ImageError
from faceops.core.parallel import worker_count
from faceops.core.params import FacesParams
from faceops.data.cluster import map_photo_chunks
from faceops.data.dataset import RawFile, list_raw_files
from faceops.data.detect import Box, FaceDetector, crop_face
from faceops.data.images import encode_png, is_image_name, load_image, sha256_bytes, sha256_file
from faceops.data.manifest import Face, write_manifest

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("source", "person", "status", "reason")


@dataclass(frozen=True)
class FacesResult:
    manifest: list[dict]
    report: list[dict]  # every photo that was rejected, or kept with a caveat

    @property
    def rejected(self) -> list[dict]:
        return [row for row in self.report if row["status"] == "rejected"]

    def counts(self) -> dict[str, int]:
        photos = len(self.manifest) + len(self.rejected)
        return {
            "photos": photos,
            "faces": len(self.manifest),
            "rejected": len(self.rejected),
            "people": len({row["person"] for row in self.manifest}),
        }


def _face_file_names(files: list[RawFile], raw_dir: Path) -> dict[Path, str]:
    """A crop name per photo that no two photos of a person share: `Alice_0001.jpg` -> `Alice_0001.png`;
    a photo in a subfolder keeps the folder (`cam1/IMG_1.jpg` -> `cam1__IMG_1.png`), and where two names still
    meet (`a.jpg` beside `a.png`) the extension stays in (`a_jpg.png`). Where even that meets another photo's
    name (`a/same.jpg` beside `a__same.jpg`), the name spells the whole path, escaped (`a%2Fsame%2Ejpg.png`):
    the last step checks every name against every other, so the mapping is one-to-one by construction."""
    stems = {}
    for raw in files:
        inside = raw.path.relative_to(raw_dir / raw.person)
        stems[raw.path] = "__".join((*inside.parent.parts, inside.stem))
    counts = Counter((raw.person, stems[raw.path]) for raw in files)
    wanted = {
        raw.path: (
            stems[raw.path]
            if counts[(raw.person, stems[raw.path])] == 1
            else f"{stems[raw.path]}_{raw.path.suffix.lstrip('.')}"
        )
        + ".png"
        for raw in files
    }
    return _one_to_one(files, raw_dir, wanted)


def _one_to_one(files: list[RawFile], raw_dir: Path, wanted: dict[Path, str]) -> dict[Path, str]:
    """`wanted` where a name is a single photo's; the escaped whole path (numbered if need be) where it is not."""
    shared = Counter((raw.person, wanted[raw.path]) for raw in files)
    taken = {(raw.person, wanted[raw.path]) for raw in files if shared[(raw.person, wanted[raw.path])] == 1}
    names: dict[Path, str] = {}
    for raw in files:
        name = wanted[raw.path]
        if shared[(raw.person, name)] > 1:
            inside = raw.path.relative_to(raw_dir / raw.person).as_posix()
            escaped = inside.replace("%", "%25").replace("/", "%2F").replace(".", "%2E")
            name, number = f"{escaped}.png", 1
            while (raw.person, name) in taken:
                number += 1
                name = f"{escaped}%{number}.png"
            taken.add((raw.person, name))
        names[raw.path] = name
    return names


CROP_FORMAT = 2  # bump when detection or cropping changes what a photo gives, so old crops are not reused
SAVE_EVERY = 256  # photos between saves of the crop cache's index


@dataclass(frozen=True)
class PhotoResult:
    """What one photo gave: a face crop (its PNG written to the crop cache), or why not."""

    status: str  # "face" or "rejected"
    reason: str = ""  # why it was rejected, or a caveat of a kept face
    box: str = ""
    png_sha256: str = ""


class CropCache:
    """Face crops of photos already seen, keyed by the photo's sha256 under one set of faces settings.

    Adding a few photos, or running again after an interruption, detects only the photos not seen yet.
    """

    def __init__(self, folder: str | os.PathLike[str], image_size: int = 0) -> None:
        """The cache in one settings folder (`for_settings` picks it); `faceops forget` opens every folder."""
        self.image_size = image_size
        self.folder = Path(folder)
        self.index_path = self.folder / "index.json"
        self.results: dict[str, PhotoResult] = {}
        self._checked: set[str] = set()  # crops read back and found intact in this run
        if self.index_path.exists():
            try:
                stored = json.loads(self.index_path.read_text())
                self.results = {sha: PhotoResult(**row) for sha, row in stored.items()}
            except (ValueError, TypeError) as exc:
                log.warning("crop cache index %s is damaged (%s); detecting every photo again", self.index_path, exc)

    @classmethod
    def for_settings(cls, directory: str | os.PathLike[str], params: FacesParams, image_size: int) -> CropCache:
        """The folder under `directory` that belongs to these faces settings (and this OpenCV)."""
        import cv2

        settings = json.dumps([CROP_FORMAT, image_size, cv2.__version__, dataclasses.asdict(params)], sort_keys=True)
        return cls(Path(directory) / hashlib.sha256(settings.encode()).hexdigest()[:20], image_size)

    def forget(self, photo_shas: set[str]) -> int:
        """Drop these photos' results and crops; how many there were."""
        gone = sorted(photo_shas & set(self.results))
        for sha in gone:
            del self.results[sha]
        if gone:
            self.save()
            for sha in gone:
                self.png(sha).unlink(missing_ok=True)
        return len(gone)

    def png(self, photo_sha: str) -> Path:
        return self.folder / f"{photo_sha}.png"

    def get(self, photo_sha: str) -> PhotoResult | None:
        """The stored result, if its crop is still there and is the crop it was."""
        result = self.results.get(photo_sha)
        if result is None or result.status != "face":
            return result
        if photo_sha not in self._checked:
            png = self.png(photo_sha)
            if not png.exists() or sha256_bytes(png.read_bytes()) != result.png_sha256:
                return None
            self._checked.add(photo_sha)
        return result

    def save(self) -> None:
        write_json(self.index_path, {sha: dataclasses.asdict(result) for sha, result in self.results.items()})


def detect_photos(
    items: list[tuple[str, str]], params: FacesParams, image_size: int, folder: str, threads: int | None = None
) -> list[tuple[str, PhotoResult]]:
    """Detect and crop the face of each (photo path, photo sha256); the crops go to `folder`.

    The unit of work of the faces stage's worker processes: plain data in, plain data out. `threads`
    caps OpenCV's own threads (1 in worker processes, which already fill the cores).
    """
    if threads:
        import cv2

        cv2.setNumThreads(threads)
    detector = _detector(params)
    results = []
    for path, photo_sha in items:
        outcome = _detect_photo(Path(path), detector, params, image_size)
        if isinstance(outcome, PhotoResult):
            results.append((photo_sha, outcome))
            continue
        png, box, caveat = outcome
        with atomic_path(Path(folder) / f"{photo_sha}.png") as tmp:
            tmp.write_bytes(png)
        results.append((photo_sha, PhotoResult("face", caveat, str(box), sha256_bytes(png))))
    return results


_detectors: dict[FacesParams, FaceDetector] = {}  # one per worker process and settings


def _detector(params: FacesParams) -> FaceDetector:
    if params not in _detectors:
        _detectors[params] = FaceDetector(params)
    return _detectors[params]


def _detect_photo(
    path: Path, detector: FaceDetector, params: FacesParams, image_size: int
) -> PhotoResult | tuple[bytes, Box, str]:
    try:
        rgb = load_image(path)
    except ImageError as exc:
        return PhotoResult("rejected", exc.reason)
    height, width = rgb.shape[:2]
    if min(height, width) < params.min_face_size:
        return PhotoResult(
            "rejected", f"too small ({width}x{height} px; faces under {params.min_face_size} px are not detected)"
        )
    boxes = detector.detect(rgb)
    if not boxes:
        return PhotoResult("rejected", "no face found")
    caveat = ""
    if len(boxes) > 1:
        if params.multiple_faces == "reject":
            return PhotoResult("rejected", f"{len(boxes)} faces found")
        caveat = f"{len(boxes)} faces found, kept the largest"
    return encode_png(crop_face(rgb, boxes[0], params.margin, image_size)), boxes[0], caveat


def extract_faces(
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    image_size: int,
    params: FacesParams = FacesParams(),
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> FacesResult:
    """Write one face crop per usable photo to `out_dir/<person>/`, replacing the folder whole.

    Photos already in the crop cache (same content, same settings) are not detected again; the others
    are detected across `workers` processes (FACEOPS_WORKERS, else every core).
    """
    files = list_raw_files(raw_dir)
    out_dir = Path(out_dir)
    names = _face_file_names(files, Path(raw_dir))
    with tempfile.TemporaryDirectory(prefix="faceops-crops-") as scratch:
        cache = CropCache.for_settings(cache_dir or scratch, params, image_size)
        cache.folder.mkdir(parents=True, exist_ok=True)
        images = [raw for raw in files if is_image_name(raw.path)]
        photo_shas = {raw.path: sha256_file(raw.path) for raw in images}
        todo = sorted({sha: str(raw.path) for raw in images if cache.get(sha := photo_shas[raw.path]) is None}.items())
        new = {sha for sha, _ in todo}
        detected = _detect_all(todo, params, image_size, cache, workers)
        log.info(
            "%d photos: %d detected in %.1f s (%d process(es)), %d reused from the crop cache",
            len(files),
            len(todo),
            detected.seconds,
            detected.workers,
            sum(photo_shas[raw.path] not in new for raw in images),
        )
        result = _assemble(files, names, photo_shas, cache, out_dir)
    counts = result.counts()
    log.info(
        "%d photos -> %d faces of %d people (%dx%d px); %d rejected",
        counts["photos"],
        counts["faces"],
        counts["people"],
        image_size,
        image_size,
        counts["rejected"],
    )
    for row in result.rejected[:10]:
        log.info("rejected %s: %s", row["source"], row["reason"])
    if len(result.rejected) > 10:
        log.info("... and %d more rejected photos, see the faces report", len(result.rejected) - 10)
    return result


@dataclass(frozen=True)
class _Detected:
    seconds: float
    workers: int


def _detect_all(
    todo: list[tuple[str, str]], params: FacesParams, image_size: int, cache: CropCache, workers: int | None
) -> _Detected:
    """Detect the photos not in the cache, in chunks across processes, saving the cache as it goes."""
    started = time.perf_counter()
    items = [(path, sha) for sha, path in todo]
    chunks = [items[i : i + 16] for i in range(0, len(items), 16)]
    n = min(workers or worker_count(), len(chunks)) if len(items) >= 64 else 1
    unsaved = 0
    try:
        with tqdm(total=len(items), desc="faces", unit="photo", disable=None) as bar:
            detect = partial(
                detect_photos,
                params=params,
                image_size=image_size,
                folder=str(cache.folder),
                threads=1 if n > 1 else None,
            )
            for results in map_photo_chunks(detect, chunks, n, cache.folder):
                cache.results.update(results)
                bar.update(len(results))
                unsaved += len(results)
                if unsaved >= SAVE_EVERY:
                    cache.save()
                    unsaved = 0
    finally:
        if unsaved:
            cache.save()
    return _Detected(time.perf_counter() - started, max(n, 1))


def _assemble(
    files: list[RawFile], names: dict[Path, str], photo_shas: dict[Path, str], cache: CropCache, out_dir: Path
) -> FacesResult:
    """The face folder, manifest and report, in the photos' order, from the cached results."""
    manifest: list[dict] = []
    report: list[dict] = []

    def note(raw: RawFile, status: str, reason: str) -> None:
        report.append({"source": str(raw.path), "person": raw.person, "status": status, "reason": reason})

    with atomic_dir(out_dir) as staging:
        for raw in files:
            if raw.path not in photo_shas:
                note(raw, "rejected", f"not an image file (extension {raw.path.suffix or 'none'})")
                continue
            result = cache.get(photo_shas[raw.path])
            if result is None or result.status != "face":
                note(raw, "rejected", result.reason if result else "no result (the crop cache lost it)")
                continue
            if result.reason:
                note(raw, "kept", result.reason)
            relative = Path(raw.person) / names[raw.path]
            (staging / raw.person).mkdir(exist_ok=True)
            shutil.copyfile(cache.png(photo_shas[raw.path]), staging / relative)
            manifest.append(
                {
                    "path": str(out_dir / relative),
                    "person": raw.person,
                    "source": str(raw.path),
                    "box": result.box,
                    "sha256": result.png_sha256,
                    "width": cache.image_size,
                    "height": cache.image_size,
                }
            )
    return FacesResult(manifest, report)


def write_faces_outputs(
    result: FacesResult, manifest_path: str | os.PathLike[str], report_path: str | os.PathLike[str]
) -> None:
    """The manifest of the kept faces and the report of the photos rejected or kept with a caveat."""
    write_manifest(manifest_path, [Face(**row) for row in result.manifest])
    write_csv(report_path, REPORT_COLUMNS, result.report)
