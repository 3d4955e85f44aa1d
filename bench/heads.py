"""Benchmark: the heads compared by k-fold cross-validation on the training part of a project's split.

    python bench/heads.py --project DIR [--folds 5] [--json]

Only the training faces (subset `train` of data/split.csv) are used, with their cached features, so
the choice of `train.head` never looks at the test part. Each fold: the head is trained on the other
folds (their last tenth as its validation share) and scored on the fold. Prints accuracy per head
(mean and worst fold); with --json the last line is one JSON object {"folds": k, "heads": {head: {...}}}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True, help="a project after `dvc repro` (its feature cache is used)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--heads", default="dense,logistic,sklearn_logistic")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    project = Path(args.project).resolve()
    os.chdir(project)
    sys.path.insert(0, str(project))

    import dataclasses

    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    from faceops.core.params import load_params
    from faceops.model.backbones import get_backbone, keras_module
    from faceops.model.features import FaceFile, FeatureCache
    from faceops.model.recogniser import build_head
    from faceops.model.train import balanced_class_weights, fit_keras_head, fit_sklearn_logistic

    params = load_params("params.yaml")
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    train = split[split["subset"] == "train"]
    labels = sorted(train["person"].unique())
    y = train["person"].map({name: i for i, name in enumerate(labels)}).to_numpy()
    extractor = get_backbone(params.train.backbone).build(
        params.train.weights, params.base.image_size, params.base.seed, params.faces.margin
    )
    x = FeatureCache(".faceops/features").features(extractor, FaceFile.rows(train))
    keras = keras_module()
    results: dict[str, dict] = {}
    for head_name in args.heads.split(","):
        settings = dataclasses.replace(params.train, head=head_name)
        scores, errors, started = [], 0, time.perf_counter()
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=params.base.seed).split(x, y)
        for fit_index, test_index in folds:
            cut = int(len(fit_index) * 0.9)
            order = np.random.default_rng(params.base.seed).permutation(fit_index)
            fit, val = order[:cut], order[cut:]
            weights = balanced_class_weights(y[fit], len(labels)) if settings.class_weights == "balanced" else None
            keras.utils.set_random_seed(params.base.seed)
            kind = "logistic" if head_name == "sklearn_logistic" else head_name
            head = build_head(x[fit], len(labels), kind, settings.dense_units, settings.dropout, settings.activation)
            if head_name == "sklearn_logistic":
                fit_sklearn_logistic(x[fit], y[fit], x[val], y[val], len(labels), weights, head)
            else:
                fit_keras_head(keras, head, settings, x[fit], y[fit], x[val], y[val], weights, params.base.seed)
            predicted = np.asarray(head.predict_on_batch(x[test_index])).argmax(axis=1)
            scores.append(float(np.mean(predicted == y[test_index])))
            errors += int(np.sum(predicted != y[test_index]))
        results[head_name] = {
            "accuracy": round(float(np.mean(scores)), 5),
            "worst_fold": round(min(scores), 5),
            "errors": errors,
            "seconds": round(time.perf_counter() - started, 1),
        }
    print(f"{len(train)} training faces of {len(labels)} people, {args.folds}-fold cross-validation")
    print("| head | accuracy (mean) | worst fold | errors | seconds |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['accuracy']:.2%} | {row['worst_fold']:.2%} | {row['errors']} | {row['seconds']:.0f} |")
    if args.json:
        print(json.dumps({"folds": args.folds, "faces": len(train), "heads": results}))


if __name__ == "__main__":
    main()
