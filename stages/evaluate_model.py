"""DVC stage `evaluate`: scores the candidate on the test faces, judges it against the live model with the
release gate, and promotes it only if it passes; the live model's metrics and plots change only then."""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import pandas as pd

from faceops.core.atomic import write_csv
from faceops.core.entry import run_stage
from faceops.core.errors import FaceopsError
from faceops.core.params import load_params
from faceops.data.manifest import read_split
from faceops.model.evaluate import evaluate_recogniser, plot_confusion, plot_history
from faceops.model.features import FeatureCache
from faceops.model.metrics import EvaluationMetrics
from faceops.model.recogniser import Recogniser
from faceops.release.gate import GateVerdict
from faceops.release.paired import REPLACE_UNREADABLE_ENV, answer_changes, evaluate_live, gate_v2_checks
from faceops.release.promote import GateResult, first_model_refused, judge, promote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True)
    parser.add_argument("--candidate", required=True, help="the model the train stage just wrote")
    parser.add_argument("--model", required=True, help="the live model (predict and serve use it)")
    parser.add_argument("--history", required=True, help="train history CSV, drawn as a PNG")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--candidate-metrics", required=True, help="JSON: the candidate's scores, always written")
    parser.add_argument("--gate", required=True, help="JSON: each check of the release gate, live vs candidate")
    parser.add_argument("--metrics", required=True, help="JSON: the live model's scores")
    parser.add_argument("--per-person", required=True, help="CSV: precision and recall per person, weakest first")
    parser.add_argument("--confusion", required=True, help="CSV: actual and predicted person per test face")
    parser.add_argument("--confusion-png", required=True)
    parser.add_argument("--history-png", required=True)
    args = parser.parse_args()

    params = load_params()
    split = read_split(args.split)
    cache = FeatureCache(args.cache_dir)
    candidate = evaluate_recogniser(Recogniser.load(args.candidate), split, cache)
    metrics = EvaluationMetrics.of(candidate.metrics)
    metrics.write(args.candidate_metrics)
    live, unreadable = evaluate_live(args.model, split, cache)  # a live model that cannot be read refuses
    result = judge(candidate, live, params.promote, params.retrain.metric)
    replace = os.environ.get(REPLACE_UNREADABLE_ENV) == "1"
    extra, paired = gate_v2_checks(candidate, live, unreadable, params.promote, replace)
    result = GateResult(result.checks + extra)
    changes = answer_changes(candidate, live) if live is not None else None
    verdict = GateVerdict.of(result, paired, changes)
    if paired:
        print(f"release gate: {paired.summary()}", file=sys.stderr)
    for line in changes.lines() if changes else []:
        print(f"release gate: what changes: {line}", file=sys.stderr)
    metric = params.retrain.metric
    for note in result.notes():
        print(f"release gate: {note}", file=sys.stderr)
    if not result.passed:
        verdict.write(args.gate)
        if live is None and not Path(args.model).exists():
            raise FaceopsError(first_model_refused(result))  # before DVC looks for a live model that never came
        print(f"candidate REFUSED by the release gate: {result.reason()}; the live model stays", file=sys.stderr)
        return
    try:
        promote(args.candidate, args.model)
    except OSError as error:  # a full disk: the live pair is untouched, and gate.json must not say otherwise
        reason = f"could not write {args.model} ({error.strerror or error})"
        dataclasses.replace(verdict, promoted=False, promotion_failed=reason).write(args.gate)
        raise FaceopsError(f"the candidate passed the release gate but {reason}; the live model stays") from None
    verdict.write(args.gate)  # only now: it says promoted, and the live model is the candidate
    metrics.write(args.metrics)
    write_csv(args.per_person, ["person", "precision", "recall", "f1", "support"], candidate.per_person)
    write_csv(args.confusion, ["actual", "predicted"], candidate.confusion)
    plot_confusion(candidate.confusion, args.confusion_png)
    plot_history(pd.read_csv(args.history), args.history_png)
    print(f"PROMOTED: {metric} {candidate.metrics[metric]:.1%}, macro F1 {candidate.metrics['macro_f1']:.3f}")


if __name__ == "__main__":
    run_stage("evaluate", main)
