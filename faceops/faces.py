"""The `faces` stage: find the face in every raw photo, crop it, and account for every photo."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from faceops.atomic import atomic_dir, write_csv
from faceops.dataset import RawFile, list_raw_files
from faceops.detect import FaceDetector, crop_face
from faceops.errors import FaceopsError, ImageError
from faceops.images import encode_png, is_image_name, load_image, sha256_bytes
from faceops.params import FacesParams

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("path", "person", "source", "box", "sha256", "width", "height")
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
    meet (`a.jpg` beside `a.png`) the extension stays in (`a_jpg.png`)."""
    stems = {}
    for raw in files:
        inside = raw.path.relative_to(raw_dir / raw.person)
        stems[raw.path] = "__".join((*inside.parent.parts, inside.stem))
    counts = Counter((raw.person, stems[raw.path]) for raw in files)
    return {
        raw.path: (
            stems[raw.path]
            if counts[(raw.person, stems[raw.path])] == 1
            else f"{stems[raw.path]}_{raw.path.suffix.lstrip('.')}"
        )
        + ".png"
        for raw in files
    }


def extract_faces(
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    image_size: int,
    params: FacesParams = FacesParams(),
    detector: FaceDetector | None = None,
) -> FacesResult:
    """Write one face crop per usable photo to `out_dir/<person>/`, replacing the folder whole."""
    detector = detector or FaceDetector(params)
    files = list_raw_files(raw_dir)
    out_dir = Path(out_dir)
    manifest: list[dict] = []
    report: list[dict] = []
    names = _face_file_names(files, Path(raw_dir))

    def note(raw, status: str, reason: str) -> None:
        report.append({"source": str(raw.path), "person": raw.person, "status": status, "reason": reason})

    with atomic_dir(out_dir) as staging:
        for raw in tqdm(files, desc="faces", unit="photo", disable=None):
            if not is_image_name(raw.path):
                note(raw, "rejected", f"not an image file (extension {raw.path.suffix or 'none'})")
                continue
            try:
                rgb = load_image(raw.path)
            except ImageError as exc:
                note(raw, "rejected", exc.reason)
                continue
            height, width = rgb.shape[:2]
            if min(height, width) < params.min_face_size:
                note(
                    raw,
                    "rejected",
                    f"too small ({width}x{height} px; faces under {params.min_face_size} px are not detected)",
                )
                continue
            boxes = detector.detect(rgb)
            if not boxes:
                note(raw, "rejected", "no face found")
                continue
            if len(boxes) > 1:
                if params.multiple_faces == "reject":
                    note(raw, "rejected", f"{len(boxes)} faces found")
                    continue
                note(raw, "kept", f"{len(boxes)} faces found, kept the largest")
            png = encode_png(crop_face(rgb, boxes[0], params.margin, image_size))
            relative = Path(raw.person) / names[raw.path]
            (staging / raw.person).mkdir(exist_ok=True)
            (staging / relative).write_bytes(png)
            manifest.append(
                {
                    "path": str(out_dir / relative),
                    "person": raw.person,
                    "source": str(raw.path),
                    "box": str(boxes[0]),
                    "sha256": sha256_bytes(png),
                    "width": image_size,
                    "height": image_size,
                }
            )
    result = FacesResult(manifest, report)
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


def write_faces_outputs(
    result: FacesResult, manifest_path: str | os.PathLike[str], report_path: str | os.PathLike[str]
) -> None:
    write_csv(manifest_path, MANIFEST_COLUMNS, result.manifest)
    write_csv(report_path, REPORT_COLUMNS, result.report)


def read_manifest(path: str | os.PathLike[str], required: tuple[str, ...] = MANIFEST_COLUMNS):
    """Load a face manifest (or the split, which extends it) as a DataFrame, checking its columns."""
    import pandas as pd

    try:
        # Only an empty cell is missing: a person folder named NA, None, null or nan is a name, not a gap.
        frame = pd.read_csv(
            path, dtype={"person": str, "sha256": str, "path": str}, keep_default_na=False, na_values=[""]
        )
    except FileNotFoundError:
        raise FaceopsError(f"{path}: manifest not found (run the `faces` stage first: dvc repro)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FaceopsError(f"{path}: not a readable CSV manifest ({exc})") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise FaceopsError(f"{path}: manifest lacks the column(s) {', '.join(missing)}")
    return frame
