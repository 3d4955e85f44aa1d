"""DVC stage `validate`: great-expectations checks on the faces; a failure stops the pipeline here."""

import argparse
import sys

from faceops.core.atomic import write_json
from faceops.core.entry import run_stage
from faceops.core.params import load_params
from faceops.data.counts import FaceCounts
from faceops.data.manifest import read_manifest
from faceops.data.validate import validate_faces

MAX_LINES = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", required=True, help="face manifest CSV from the faces stage")
    parser.add_argument("--faces-metrics", required=True, help="faces stage counts (photos, rejected)")
    parser.add_argument("--report", required=True, help="JSON: every expectation with observed value and verdict")
    args = parser.parse_args()

    params = load_params()
    counts = FaceCounts.read(args.faces_metrics, missing="the faces stage counts are missing; run dvc repro")
    report = validate_faces(
        read_manifest(args.manifest),
        counts.photos,
        counts.rejected,
        params.base.image_size,
        params.validate,
    )
    write_json(args.report, report.to_dict())
    print(report.summary())
    if not report.success:
        problems = [problem for check in report.failures for problem in (check.problems or [check.name])]
        for problem in problems[:MAX_LINES]:
            print(f"error: data validation: {problem}", file=sys.stderr)
        if len(problems) > MAX_LINES:
            print(f"error: data validation: ... and {len(problems) - MAX_LINES} more in {args.report}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_stage("validate", main)
