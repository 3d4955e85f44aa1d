"""DVC stage `train`: frozen VGG16 features (cached) + a new dense head; writes the model and its history."""

import argparse
from dataclasses import asdict

from _common import read_base, read_params, run

from faceops.atomic import write_csv, write_json
from faceops.faces import FacesParams, read_manifest
from faceops.features import FeatureCache
from faceops.model import save_recogniser
from faceops.train import TrainParams, train_recogniser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True, help="split CSV from the split stage")
    parser.add_argument("--model", required=True, help="where to write model.keras (model.json goes beside it)")
    parser.add_argument("--history", required=True, help="CSV: loss and accuracy per epoch")
    parser.add_argument("--metrics", required=True, help="JSON: train metrics")
    parser.add_argument("--cache-dir", required=True, help="feature cache folder (kept between runs)")
    args = parser.parse_args()

    base, params = read_base(), read_params("train", TrainParams)
    faces = read_params("faces", FacesParams)  # prediction must crop faces as training did
    split = read_manifest(args.split, required=("path", "person", "sha256", "subset"))
    result = train_recogniser(split, base.image_size, base.seed, faces.margin, params, FeatureCache(args.cache_dir))
    save_recogniser(args.model, result.model, {**result.meta, "faces": asdict(faces)})
    write_csv(args.history, list(result.history[0]), result.history)
    write_json(args.metrics, result.metrics)


if __name__ == "__main__":
    run(main)
