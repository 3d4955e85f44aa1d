"""DVC stage `faces`: raw photos -> face crops, manifest and a report of every rejected photo."""

import argparse

from faceops.core.entry import run_stage
from faceops.core.layout import LAYOUT
from faceops.core.params import load_params
from faceops.data.counts import FaceCounts
from faceops.data.faces import extract_faces, write_faces_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", required=True, help=f"{LAYOUT.raw}: one folder of photos per person")
    parser.add_argument("--out", required=True, help="folder for the face crops")
    parser.add_argument("--manifest", required=True, help="CSV: one row per face crop")
    parser.add_argument("--report", required=True, help="CSV: photos rejected or kept with a caveat, with the reason")
    parser.add_argument("--metrics", required=True, help="JSON: counts")
    parser.add_argument("--cache-dir", required=True, help="crop cache folder (kept between runs)")
    args = parser.parse_args()

    params = load_params()
    result = extract_faces(args.raw, args.out, params.base.image_size, params.faces, args.cache_dir)
    write_faces_outputs(result, args.manifest, args.report)
    FaceCounts(**result.counts()).write(args.metrics)


if __name__ == "__main__":
    run_stage("faces", main)
