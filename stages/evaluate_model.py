"""DVC stage `evaluate`: scores the model on the test faces and draws the plots."""

import argparse

import pandas as pd

from faceops.atomic import write_csv, write_json
from faceops.entry import run_stage
from faceops.evaluate import evaluate_recogniser, plot_confusion, plot_history
from faceops.faces import read_manifest
from faceops.features import FeatureCache
from faceops.model import Recogniser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--history", required=True, help="train history CSV, drawn as a PNG")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--metrics", required=True, help="JSON: accuracy, macro F1")
    parser.add_argument("--per-person", required=True, help="CSV: precision and recall per person, weakest first")
    parser.add_argument("--confusion", required=True, help="CSV: actual and predicted person per test face")
    parser.add_argument("--confusion-png", required=True)
    parser.add_argument("--history-png", required=True)
    args = parser.parse_args()

    split = read_manifest(args.split, required=("path", "person", "sha256", "subset"))
    evaluation = evaluate_recogniser(Recogniser.load(args.model), split, FeatureCache(args.cache_dir))
    write_json(args.metrics, evaluation.metrics)
    write_csv(args.per_person, ["person", "precision", "recall", "f1", "support"], evaluation.per_person)
    write_csv(args.confusion, ["actual", "predicted"], evaluation.confusion)
    plot_confusion(evaluation.confusion, args.confusion_png)
    plot_history(pd.read_csv(args.history), args.history_png)
    print(f"test accuracy {evaluation.metrics['accuracy']:.1%}, macro F1 {evaluation.metrics['macro_f1']:.3f}")


if __name__ == "__main__":
    run_stage("evaluate", main)
