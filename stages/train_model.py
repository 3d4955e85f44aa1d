"""DVC stage `train`: frozen backbone features (cached) + a new head; writes the model, its card and its history."""

import argparse

from faceops.core.atomic import write_csv
from faceops.core.entry import run_stage
from faceops.core.params import load_params
from faceops.data.manifest import read_split
from faceops.data.negatives import read_rejections
from faceops.model.features import FeatureCache
from faceops.model.metrics import TrainMetrics
from faceops.model.recogniser import save_recogniser
from faceops.model.train import train_recogniser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True, help="split CSV from the split stage")
    parser.add_argument("--model", required=True, help="where to write model.keras (model.json goes beside it)")
    parser.add_argument("--history", required=True, help="CSV: loss and accuracy per epoch")
    parser.add_argument("--metrics", required=True, help="JSON: train metrics")
    parser.add_argument("--cache-dir", required=True, help="feature cache folder (kept between runs)")
    parser.add_argument("--negatives", required=True, help="rejected faces, NAME/*.jpg (faceops feedback accept)")
    args = parser.parse_args()

    params = load_params()
    split = read_split(args.split)
    result = train_recogniser(
        split,
        params.base.image_size,
        params.base.seed,
        params.faces,
        params.train,
        FeatureCache(args.cache_dir),
        read_rejections(args.negatives),
        params.split.strangers,
    )
    save_recogniser(args.model, result.model, result.card)
    write_csv(args.history, list(result.history[0]), result.history)
    TrainMetrics.of(result.metrics).write(args.metrics)


if __name__ == "__main__":
    run_stage("train", main)
