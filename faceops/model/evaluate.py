"""The `evaluate` stage: test accuracy, macro F1, per-person scores, confusion matrix and plots."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faceops.core.atomic import atomic_path
from faceops.core.errors import FaceopsError
from faceops.core.fonts import use_fonts_for_names
from faceops.model.features import ORIGINAL, FaceFile, FeatureCache, compute_features
from faceops.model.rates import Rate
from faceops.model.recogniser import UNKNOWN, Recogniser

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    metrics: dict
    per_person: list[dict]
    confusion: list[dict]  # one row per test face: actual, predicted
    # One row per test and stranger face: face (its path), person (None for a stranger), answer (what serve says).
    served: list[dict] = field(default_factory=list)


def evaluate_recogniser(recogniser: Recogniser, split: pd.DataFrame, cache: FeatureCache) -> Evaluation:
    """Closed-set scores on the test faces, and open-set rates with the held-out strangers."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    test = split[split["subset"] == "test"]
    strangers = split[(split["subset"] == "stranger") & ~split["person"].isin(recogniser.labels)]
    if test.empty:
        raise FaceopsError("the split has no test faces: add photos or raise split.test_size")
    features = cache.features(recogniser.extractor, FaceFile.rows(test))
    _check_cached_features(recogniser, test, features)
    answers = recogniser.identify(features)
    predicted = [answer.label for answer in answers]
    actual = test["person"].tolist()
    people = sorted(set(actual) | set(recogniser.labels))
    precision, recall, f1, support = precision_recall_fscore_support(actual, predicted, labels=people, zero_division=0)
    per_person = [
        {
            "person": p,
            "precision": round(float(pr), 4),
            "recall": round(float(rc), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for p, pr, rc, f, s in zip(people, precision, recall, f1, support)
        if s > 0
    ]
    per_person.sort(key=lambda row: (row["f1"], row["person"]))
    stranger_answers = recogniser.identify(cache.features(recogniser.extractor, FaceFile.rows(strangers)))
    far = stranger_rate(recogniser, stranger_answers)
    metrics = {
        "accuracy": round(float(accuracy_score(actual, predicted)), 4),
        "macro_f1": round(
            float(f1_score(actual, predicted, labels=sorted(set(actual)), average="macro", zero_division=0)), 4
        ),
        "open_set_accuracy": round(float(np.mean([a.name == p for a, p in zip(answers, actual)])), 4),
        "false_reject_rate": round(float(np.mean([a.name == UNKNOWN for a in answers])), 4),
        "false_accept_rate": None if far.value is None else round(far.value, 4),
        "far_interval": [round(bound, 4) for bound in far.interval],
        "false_accepts": far.errors,
        "unknown_threshold": round(recogniser.unknown_threshold, 4),
        "test_faces": len(actual),
        "stranger_faces": far.n,
        "people": len(set(actual)),
        "backbone": recogniser.card.backbone,
        "weights": recogniser.card.weights_description,
    }
    log.info(
        "test accuracy %.3f, macro F1 %.3f on %d faces of %d people (%s, %s); "
        "unknown: %.1f%% of known faces rejected%s",
        metrics["accuracy"],
        metrics["macro_f1"],
        len(actual),
        metrics["people"],
        metrics["backbone"],
        metrics["weights"],
        100 * metrics["false_reject_rate"],
        ""
        if metrics["false_accept_rate"] is None
        else f", {100 * metrics['false_accept_rate']:.1f}% of {far.n} stranger faces accepted "
        f"(95% interval {100 * far.interval[0]:.1f}-{100 * far.interval[1]:.1f}%)",
    )
    confusion = [{"actual": a, "predicted": p} for a, p in zip(actual, predicted)]
    served = [{"face": f, "person": p, "answer": a.name} for f, p, a in zip(test["path"], actual, answers)]
    served += [{"face": f, "person": None, "answer": a.name} for f, a in zip(strangers["path"], stranger_answers)]
    return Evaluation(metrics, per_person, confusion, served)


def stranger_rate(recogniser: Recogniser, answers: list) -> Rate:
    """False accepts among the stranger faces: those of people outside the model that the split holds (left out
    for too few photos), answered by the model itself, and those its training measured by rotation (people held
    out in turn, and the negatives; faceops.model.rotation), which is how a model trained on everyone still has any."""
    open_set = recogniser.card.open_set
    accepted = sum(answer.name != UNKNOWN for answer in answers)
    return Rate(accepted + open_set.false_accepts, len(answers) + open_set.stranger_faces)


def _check_cached_features(recogniser: Recogniser, test: pd.DataFrame, cached: np.ndarray, n: int = 1) -> None:
    """The backbone, run now on a face, must agree with the cached features it is scored on (another backbone
    or version gives other features for every face, so one face tells)."""
    _, now = compute_features(recogniser.extractor, ORIGINAL, FaceFile.rows(test.iloc[:n]))
    if not np.allclose(now, cached[:n], rtol=1e-3, atol=1e-3):
        raise FaceopsError(
            "the model's backbone disagrees with the cached features; "
            "delete the feature cache folder and run `dvc repro --force train evaluate`"
        )


def plot_confusion(confusion: list[dict], path: str | os.PathLike[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_fonts_for_names()
    from sklearn.metrics import confusion_matrix

    actual = [row["actual"] for row in confusion]
    predicted = [row["predicted"] for row in confusion]
    people = sorted(set(actual) | set(predicted))
    matrix = confusion_matrix(actual, predicted, labels=people)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = min(4 + 0.22 * len(people), 22)
    fig, ax = plt.subplots(figsize=(side, side * 0.9))
    shown = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")  # one crisp cell per pair
    ax.set_xticks(range(len(people)), [p.replace("_", " ") for p in people], rotation=90, fontsize=7)
    ax.set_yticks(range(len(people)), [p.replace("_", " ") for p in people], fontsize=7)
    if len(people) <= 15:
        for i in range(len(people)):
            for j in range(len(people)):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        matrix[i, j],
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    accuracy = float(np.trace(matrix)) / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix: {len(actual)} test faces, accuracy {accuracy:.1%}")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of the person's test faces")
    fig.tight_layout()
    _save_figure(fig, path)


def plot_history(history: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_fonts_for_names()

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for column, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
        ax.plot(history["epoch"], history[column], label="train")
        if f"val_{column}" in history:
            ax.plot(history["epoch"], history[f"val_{column}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Training history of the dense head")
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path: str | os.PathLike[str]) -> None:  # noqa: ANN001 - matplotlib Figure
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
