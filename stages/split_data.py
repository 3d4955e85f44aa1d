"""DVC stage `split`: a stratified, seeded train/test split with no duplicate image on both sides."""

import argparse
import logging

from faceops.core.atomic import read_json
from faceops.core.entry import run_stage
from faceops.core.errors import FaceopsError
from faceops.core.params import load_params
from faceops.data.manifest import read_manifest
from faceops.data.split import split_manifest, write_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", required=True, help="face manifest CSV from the faces stage")
    parser.add_argument("--validation", required=True, help="report of the validate stage; must have passed")
    parser.add_argument("--out", required=True, help="split CSV: the manifest plus a subset column")
    args = parser.parse_args()

    validation = read_json(args.validation, missing="no validation report; run dvc repro")
    if not validation.get("success"):
        raise FaceopsError(f"{args.validation}: the data failed validation; fix the data set, then dvc repro")

    params = load_params()
    base, settings = params.base, params.split
    left_out = validation.get("left_out", {})
    split = split_manifest(read_manifest(args.manifest), settings.test_size, base.seed, left_out)
    counts = split["subset"].value_counts()
    logging.info(
        "%d faces of %d people -> %d train, %d test, %d stranger faces of %d people left out (test_size %.2f, seed %d)",
        len(split),
        split["person"].nunique(),
        counts.get("train", 0),
        counts.get("test", 0),
        counts.get("stranger", 0),
        len(left_out),
        settings.test_size,
        base.seed,
    )
    write_split(split, args.out)


if __name__ == "__main__":
    run_stage("split", main)
