"""The `validate` stage: great-expectations checks on the face manifest before anything trains on it."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import pandas as pd
from PIL import Image
from tqdm import tqdm

from faceops.core.layout import LAYOUT
from faceops.core.params import ValidateParams
from faceops.data.manifest import MANIFEST_COLUMNS

log = logging.getLogger(__name__)


@dataclass
class Check:
    """One expectation's verdict, with a line per person or file at fault."""

    name: str
    expectation: str
    level: Literal["error", "warning"]
    success: bool
    observed: Any
    expected: str
    problems: list[str] = field(default_factory=list)


@dataclass
class ValidationReport:
    checks: list[Check]
    faces: int
    people: int
    left_out: dict[str, int] = field(default_factory=dict)  # person -> photos they still need to be trained

    @property
    def success(self) -> bool:
        return all(check.success for check in self.checks if check.level == "error")

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.success and check.level == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if not check.success and check.level == "warning"]

    def to_dict(self) -> dict:
        return {
            "success": self.success,
            "faces": self.faces,
            "people": self.people,
            "failed": len(self.failures),
            "warnings": len(self.warnings),
            "left_out": self.left_out,
            "checks": [asdict(check) for check in self.checks],
        }

    def summary(self) -> str:
        lines = [
            f"data validation: {self.people} people, {self.faces} faces: "
            f"{sum(c.success for c in self.checks)} checks passed, {len(self.warnings)} warnings, "
            f"{len(self.failures)} failed"
        ]
        for check in self.checks:
            verdict = "PASS" if check.success else ("WARN" if check.level == "warning" else "FAIL")
            lines.append(f"  {verdict}  {check.name}: observed {_short(check.observed)}, expected {check.expected}")
            lines.extend(f"        {problem}" for problem in check.problems[:5])
            if len(check.problems) > 5:
                lines.append(f"        ... {len(check.problems) - 5} more in the JSON report")
        return "\n".join(lines)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def inspect_face_files(manifest: pd.DataFrame) -> pd.DataFrame:
    """Open every face file: readable or not (and why), colour mode and size."""
    rows = []
    for path in tqdm(manifest.get("path", pd.Series(dtype=str)).tolist(), desc="validate", unit="face", disable=None):
        try:
            with Image.open(path) as image:
                image.load()
                rows.append(
                    {
                        "readable": True,
                        "unreadable_reason": None,
                        "mode": image.mode,
                        "size": f"{image.width}x{image.height}",
                    }
                )
        except (OSError, SyntaxError, ValueError, TypeError) as exc:
            rows.append(
                {"readable": False, "unreadable_reason": str(exc) or type(exc).__name__, "mode": None, "size": None}
            )
    return pd.DataFrame(rows, index=manifest.index, columns=["readable", "unreadable_reason", "mode", "size"])


class _Expectations:
    """A thin wrapper over an ephemeral great-expectations context with pandas batches."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        logging.getLogger("great_expectations").setLevel(logging.ERROR)

    @cached_property
    def _gx(self) -> Any:
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.ERROR)  # it sets its own level on import
        return gx

    @cached_property
    def _batch_definition(self) -> Any:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = self._gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("faceops").add_dataframe_asset("frame")
        return asset.add_batch_definition_whole_dataframe("whole")

    def run(self, frame: pd.DataFrame, name: str, *args: Any, index: list[str] | None = None, **kwargs: Any):
        expectation = getattr(self._gx.expectations, name)(*args, **kwargs)
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format = {"result_format": "COMPLETE"}
        if index:
            result_format["unexpected_index_column_names"] = index
        result = batch.validate(expectation, result_format=result_format)
        return expectation.expectation_type, result


def validate_faces(
    manifest: pd.DataFrame, photos: int, rejected: int, image_size: int, params: ValidateParams
) -> ValidationReport:
    """Run every expectation on the manifest, its files, the per-person counts and the rejections."""
    gx = _Expectations()
    faces = manifest.join(inspect_face_files(manifest))
    checks = [_columns_check(gx, faces, manifest), _not_null_check(gx, faces, manifest)]
    people = faces.groupby("person").size() if "person" in faces.columns else pd.Series(dtype=int)
    counts = people.rename("images").rename_axis("person").reset_index()
    people_checks, left_out = _people_checks(gx, counts, params)
    checks += people_checks
    checks += [_readable_check(gx, faces), _rgb_check(gx, faces), _size_check(gx, faces, image_size)]
    if "sha256" in faces.columns:
        checks.append(_duplicates_check(gx, faces))
    if {"path", "source"} <= set(faces.columns):
        checks.append(_one_crop_per_photo(gx, faces))
    checks.append(_rejections_check(gx, photos, rejected, params))
    report = ValidationReport(checks, faces=len(manifest), people=len(people), left_out=left_out)
    log.info(
        "%d checks on %d faces of %d people: %d failed, %d warnings",
        len(checks),
        report.faces,
        report.people,
        len(report.failures),
        len(report.warnings),
    )
    return report


def _columns_check(gx: _Expectations, faces: pd.DataFrame, manifest: pd.DataFrame) -> Check:
    """Every column the faces stage writes is there (extra columns are allowed)."""
    kind, result = gx.run(faces, "ExpectTableColumnsToMatchSet", column_set=list(MANIFEST_COLUMNS), exact_match=False)
    missing = sorted(set(MANIFEST_COLUMNS) - set(manifest.columns))
    return Check(
        "manifest columns present",
        kind,
        "error",
        result.success,
        list(manifest.columns),
        ", ".join(MANIFEST_COLUMNS),
        [f"the manifest has no column {c!r}" for c in missing],
    )


def _not_null_check(gx: _Expectations, faces: pd.DataFrame, manifest: pd.DataFrame) -> Check:
    """No empty cell in the manifest's columns, a line per empty cell naming the face and the column."""
    key = ["path"] if "path" in faces.columns else None
    empty: list[str] = []
    all_filled = True
    for column in [c for c in MANIFEST_COLUMNS if c in manifest.columns]:
        kind, result = gx.run(faces, "ExpectColumnValuesToNotBeNull", column=column, index=key)
        all_filled &= result.success
        for row in result.result.get("unexpected_index_list", []):
            empty.append(f"{row.get('path', '?')}: column {column!r} is empty")
    return Check(
        "manifest values not null",
        "expect_column_values_to_not_be_null",
        "error",
        all_filled,
        f"{len(empty)} empty values",
        "none",
        empty,
    )


def _readable_check(gx: _Expectations, faces: pd.DataFrame) -> Check:
    """Every face file opens as an image."""
    kind, result = gx.run(
        faces, "ExpectColumnValuesToBeInSet", column="readable", value_set=[True], index=["path", "unreadable_reason"]
    )
    return Check(
        "face files readable",
        kind,
        "error",
        result.success,
        f"{int((~faces['readable']).sum())} unreadable",
        "all readable",
        [
            f"{row['path']}: unreadable ({row['unreadable_reason']})"
            for row in result.result.get("unexpected_index_list", [])
        ],
    )


def _rgb_check(gx: _Expectations, faces: pd.DataFrame) -> Check:
    """Every face file is RGB, as the backbones take it."""
    kind, result = gx.run(faces, "ExpectColumnValuesToBeInSet", column="mode", value_set=["RGB"], index=["path"])
    return Check(
        "face files RGB",
        kind,
        "error",
        result.success,
        sorted(faces["mode"].dropna().unique().tolist()),
        "RGB",
        [
            f"{row['path']}: colour mode {row['mode']}, expected RGB"
            for row in result.result.get("unexpected_index_list", [])
        ],
    )


def _size_check(gx: _Expectations, faces: pd.DataFrame, image_size: int) -> Check:
    """Every face file is base.image_size square, as the faces stage cut it."""
    expected_size = f"{image_size}x{image_size}"
    kind, result = gx.run(
        faces, "ExpectColumnValuesToBeInSet", column="size", value_set=[expected_size], index=["path"]
    )
    return Check(
        "face files sized",
        kind,
        "error",
        result.success,
        sorted(faces["size"].dropna().unique().tolist()),
        f"{expected_size} (base.image_size)",
        [
            f"{row['path']}: {row['size']} px, expected {expected_size} (base.image_size)"
            for row in result.result.get("unexpected_index_list", [])
        ],
    )


def _duplicates_check(gx: _Expectations, faces: pd.DataFrame) -> Check:
    """No image twice: a duplicate on both sides of the split leaks the answer, under two names it is a mix-up."""
    kind, result = gx.run(faces, "ExpectColumnValuesToBeUnique", column="sha256", index=["path", "person"])
    groups: dict[str, list[str]] = {}
    for row in result.result.get("unexpected_index_list", []):
        groups.setdefault(row["sha256"], []).append(f"{row['path']} ({row['person']})")
    return Check(
        "no duplicate images",
        kind,
        "error",
        result.success,
        f"{len(groups)} duplicated",
        "unique sha256",
        [f"identical images: {' = '.join(paths)}" for paths in groups.values()],
    )


def _rejections_check(gx: _Expectations, photos: int, rejected: int, params: ValidateParams) -> Check:
    """Not too many photos rejected by the faces stage: many rejections point at a wrong setting or a bad import."""
    share = rejected / photos if photos else 0.0
    rejections = pd.DataFrame([{"rejected_share": share}])
    kind, result = gx.run(
        rejections, "ExpectColumnValuesToBeBetween", column="rejected_share", max_value=params.max_rejected_share
    )
    return Check(
        "few photos rejected",
        kind,
        "error",
        result.success,
        round(share, 4),
        f"<= {params.max_rejected_share} (validate.max_rejected_share)",
        []
        if result.success
        else [
            f"{rejected} of {photos} photos ({share:.1%}) were rejected by the faces stage, more than "
            f"validate.max_rejected_share ({params.max_rejected_share:.0%}); reasons are in {LAYOUT.faces_report}"
        ],
    )


def _one_crop_per_photo(gx: _Expectations, faces: pd.DataFrame) -> Check:
    """Two photos with one crop path: one of them overwrote the other, and a face is silently lost."""
    kind, result = gx.run(faces, "ExpectColumnValuesToBeUnique", column="path", index=["path", "source"])
    shared: dict[str, list[str]] = {}
    for row in result.result.get("unexpected_index_list", []):
        shared.setdefault(row["path"], []).append(str(row["source"]))
    return Check(
        "one crop per photo",
        kind,
        "error",
        result.success,
        f"{len(shared)} crop paths shared",
        "unique crop path",
        [f"{path}: the crop of {' and of '.join(sources)}" for path, sources in shared.items()],
    )


def _people_checks(gx: _Expectations, counts: pd.DataFrame, params: ValidateParams) -> tuple[list[Check], dict]:
    """Per person: too few faces leaves them out of this model (a warning naming the photos they need), an uneven
    gallery is a warning (class weights handle it); only too few trainable people stops the run."""
    checks = []
    for name, minimum, setting in (
        ("enough images per person", params.min_images_per_person, "min_images_per_person"),
        ("images per person, comfortable", params.warn_images_per_person, "warn_images_per_person"),
    ):
        kind, result = gx.run(
            counts, "ExpectColumnValuesToBeBetween", column="images", min_value=minimum, index=["person"]
        )
        low = result.result.get("unexpected_index_list", [])
        left_out = setting == "min_images_per_person"
        checks.append(
            Check(
                name,
                kind,
                "warning",
                result.success,
                f"fewest {int(counts['images'].min()) if len(counts) else 0}",
                f">= {minimum} (validate.{setting})",
                [
                    f"{row['person']} has {int(row['images'])} face images, fewer than {minimum} (validate.{setting})"
                    + (
                        f": left out of this model, needs {minimum - int(row['images'])} more photos"
                        if left_out
                        else ""
                    )
                    for row in low
                ],
            )
        )
    short = counts["images"] < params.min_images_per_person
    left = {row.person: int(params.min_images_per_person - row.images) for row in counts[short].itertuples()}
    trainable = counts[~short].reset_index(drop=True)
    enough = len(trainable) >= params.min_people  # counted here: an expectation on an empty table cannot say
    names = ", ".join(trainable["person"]) or "nobody"
    checks.append(
        Check(
            "enough people",
            "expect_column_unique_value_count_to_be_between",
            "error",
            enough,
            len(trainable),
            f">= {params.min_people} with >= {params.min_images_per_person} faces (validate.min_people)",
            []
            if enough
            else [
                f"found {len(trainable)} {'person' if len(trainable) == 1 else 'people'} with at least "
                f"{params.min_images_per_person} face images (validate.min_images_per_person): {names}; need at least "
                f"{params.min_people} (validate.min_people)"
            ],
        )
    )
    checks.append(_balance_check(gx, trainable, params))
    return checks, left


def _balance_check(gx: _Expectations, counts: pd.DataFrame, params: ValidateParams) -> Check:
    """A warning when one trainable person has many times the faces of another."""
    counts = counts.copy()
    smallest = int(counts["images"].min()) if len(counts) else 0
    counts["times_smallest"] = counts["images"] / max(smallest, 1)
    expectation = "expect_column_values_to_be_between"
    unbalanced: list = []
    if len(counts):
        expectation, result = gx.run(
            counts,
            "ExpectColumnValuesToBeBetween",
            column="times_smallest",
            max_value=params.max_imbalance,
            index=["person"],
        )
        unbalanced = result.result.get("unexpected_index_list", [])
    smallest_person = counts.loc[counts["images"].idxmin(), "person"] if len(counts) else "-"
    return Check(
        "balance between people",
        expectation,
        "warning",
        not unbalanced,
        round(float(counts["times_smallest"].max()), 2) if len(counts) else 0,
        f"<= {params.max_imbalance} x the smallest (validate.max_imbalance)",
        [
            f"{row['person']} has {row['times_smallest']:.1f} times the images of {smallest_person} ({smallest}), "
            f"more than validate.max_imbalance ({params.max_imbalance:g}); class weights balance them"
            for row in unbalanced
        ],
    )
