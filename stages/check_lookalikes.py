"""DVC stage `lookalikes`: warns, naming both, when two people's faces are as close to each other as each one's
own (usually one person under two names). A warning, never a failure; the features go to the train stage's cache,
so training computes none of them again."""

import argparse
import sys

from faceops.core.atomic import write_json
from faceops.core.entry import run_stage
from faceops.core.params import load_params
from faceops.data.lookalike import lookalikes
from faceops.data.manifest import read_manifest
from faceops.model.backbones import get_backbone
from faceops.model.features import FaceFile, FeatureCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", required=True, help="face manifest CSV from the faces stage")
    parser.add_argument("--cache-dir", required=True, help="feature cache folder (the train stage's)")
    parser.add_argument("--report", required=True, help="JSON: the pairs of people that look like one")
    args = parser.parse_args()

    params = load_params()
    backbone = get_backbone(params.train.backbone)
    skipped = backbone.lookalike_skip(params.train.weights)
    if skipped:
        write_json(args.report, {"backbone": params.train.backbone, "skipped": skipped, "pairs": []})
        print(f"lookalikes: not checked: {skipped}", file=sys.stderr)
        return
    manifest = read_manifest(args.manifest)
    extractor = backbone.build(params.train.weights, params.base.image_size, params.base.seed, params.faces.margin)
    features = FeatureCache(args.cache_dir).features(extractor, FaceFile.rows(manifest))
    pairs = lookalikes(features, manifest["person"].tolist())
    write_json(args.report, {"backbone": params.train.backbone, "pairs": [pair.to_dict() for pair in pairs]})
    for pair in pairs:
        print(f"warning: {pair.message()}", file=sys.stderr)
    print(f"lookalikes: {len(pairs)} pairs of people look like one person", file=sys.stderr)


if __name__ == "__main__":
    run_stage("lookalikes", main)
