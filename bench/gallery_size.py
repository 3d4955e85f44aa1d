"""Benchmark: how the default open-set figures move with the number of people, to read what a gallery larger than
the demo data would give (only 62 people are on disk here).

    python bench/gallery_size.py --project DIR [--sizes 3 4 6 ... 62] [--draws 40] [--json]

DIR is a project whose feature cache holds dlib's descriptor of every face of the demo data (`make demo`, or
`python bench/gallery.py --min-photos 1000 --max-photos 1000 --keep`). For each size N and draw, N people are
picked (seeded), each subsampled to 5 to 10 photos as `bench/gallery.py --seed DRAW` does, split as the pipeline
splits, and run through the pipeline's open-set protocol with the committed defaults in numpy
(`bench/gallery_levers.py`: references from every training face, the nearest-reference head, rotation of
split.strangers people, the threshold at train.unknown.target_far). The false-reject rate grows with N, as a
stranger meets more references to fall close to; the last row extends the pooled FRR and the threshold linearly in
log N (sizes from --fit-from people on, where the threshold comes from the faces' own ranks) to --extend people
(a reading, not a measurement). With --json the last stdout line is one JSON object:
sizes, accuracy, false_reject_rate, false_accept_rate, threshold, test_faces, extended_people, extended_frr,
extended_threshold.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from gallery_levers import Lever, gallery, load_features, read_manifest, run, subsample, summarise  # noqa: E402

from faceops.core.params import load_params  # noqa: E402
from faceops.data.split import split_manifest  # noqa: E402

DEFAULTS = Lever("defaults: references from every training face, nearest-reference head", refs_from="all")


def people_of(manifest: pd.DataFrame, size: int, draw: int) -> pd.DataFrame:
    """`size` people, picked by a seeded hash of their names (all of them when `size` is every person)."""
    people = sorted(manifest["person"].unique(), key=lambda p: hashlib.sha256(f"{draw}:size:{p}".encode()).digest())
    return manifest[manifest["person"].isin(people[:size])]


def measure(manifest: pd.DataFrame, feats, size: int, draws: int, low: int, high: int) -> dict:
    params = load_params(REPO / "params.yaml")
    rows = []
    for draw in range(draws):
        sub = subsample(people_of(manifest, size, draw), draw, low, high)
        split = split_manifest(sub, params.split.test_size, params.base.seed)
        outer = gallery(split, feats, params.base.seed, params.train.validation_share)
        target_far = params.train.unknown.target_far
        rows.append(run(DEFAULTS, outer, params.base.seed, params.split.strangers, target_far, {}))
    pooled = summarise(rows)
    pooled["threshold"] = float(np.mean([row["threshold"] for row in rows]))
    return pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 4, 6, 8, 12, 16, 20, 31, 47, 62])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--min-photos", type=int, default=5)
    parser.add_argument("--max-photos", type=int, default=10)
    parser.add_argument("--extend", type=int, default=423, help="people to extend the trend to")
    parser.add_argument("--fit-from", type=int, default=20, help="the trend is fitted on sizes from this many people")
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args()
    project = Path(args.project)
    manifest = read_manifest(project)
    feats = load_features(project, manifest, flip=False)
    photos = (args.min_photos, args.max_photos)
    results = {size: measure(manifest, feats, size, args.draws, *photos) for size in args.sizes}
    trend = [size for size in args.sizes if size >= args.fit_from]  # below, the tail rule sets the threshold
    extended_frr = extended_threshold = None
    if len(trend) >= 2:
        logs = np.log([float(size) for size in trend])
        frr_line = np.polyfit(logs, [results[size]["frr"] for size in trend], 1)
        threshold_line = np.polyfit(logs, [results[size]["threshold"] for size in trend], 1)
        extended_frr = float(np.polyval(frr_line, np.log(args.extend)))
        extended_threshold = float(np.polyval(threshold_line, np.log(args.extend)))
    print(f"{'people':>6} | {'test faces':>10} | {'accuracy':>8} | {'FRR':>6} | {'FAR':>6} | threshold")
    for size in args.sizes:
        row = results[size]
        print(
            f"{size:>6} | {row['test_faces']:>10} | {100 * row['accuracy']:7.2f}% | {100 * row['frr']:5.2f}% "
            f"| {100 * row['far']:5.2f}% | {row['threshold']:.4f}"
        )
    if extended_frr is not None:
        blank = ""
        print(
            f"{args.extend:>6} | {'extended':>10} | {blank:>8} | {100 * extended_frr:5.2f}% | {blank:>6} "
            f"| {extended_threshold:.4f}"
        )
    else:
        print(f"(no trend: fewer than 2 sizes of {args.fit_from} people or more)")
    if args.json:
        summary = {
            "sizes": args.sizes,
            "accuracy": [round(results[size]["accuracy"], 4) for size in args.sizes],
            "false_reject_rate": [round(results[size]["frr"], 4) for size in args.sizes],
            "false_accept_rate": [round(results[size]["far"], 4) for size in args.sizes],
            "threshold": [round(results[size]["threshold"], 4) for size in args.sizes],
            "test_faces": [results[size]["test_faces"] for size in args.sizes],
            "extended_people": args.extend,
            "extended_frr": None if extended_frr is None else round(extended_frr, 4),
            "extended_threshold": None if extended_threshold is None else round(extended_threshold, 4),
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
