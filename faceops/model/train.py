"""The `train` stage: frozen backbone features (VGG16 or dlib's ResNet, cached) and a new head trained with Adam."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.params import FacesParams, TrainParams
from faceops.data.negatives import Rejection, rejection_inputs
from faceops.data.split import split_manifest
from faceops.model.backbones import FeatureExtractor, get_backbone, keras_module
from faceops.model.card import CropSettings, ModelCard, OpenSet, package_versions
from faceops.model.features import ORIGINAL, FaceFile, FeatureCache, training_variants
from faceops.model.recogniser import assemble, build_head, centroid_weights
from faceops.model.rotation import OpenSetEvidence, neighbours_needed, people_folds, rotation_evidence
from faceops.model.scoring import (
    STRANGER,
    Thresholds,
    calibrate,
    centroids_chunked,
    left_out_distances,
    score_faces,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: Any
    card: ModelCard
    history: list[dict]
    metrics: dict


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    counts = np.bincount(labels, minlength=n_classes)
    return {i: float(len(labels) / (n_classes * c)) for i, c in enumerate(counts) if c}


def fit_batches(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    batch_size: int,
    class_weights: dict[int, float] | None,
    seed: int,
) -> tuple[Any, Any]:
    """tf.data pipelines for the head: the training faces reshuffled every epoch (seeded), each weighted by its
    class; built once, they fit in 60 % of the time of Keras' own per-epoch handling of numpy arrays (measured)."""
    import tensorflow as tf

    weights = np.ones(len(y_fit), dtype="float32")
    if class_weights:
        weights = np.array([class_weights[int(label)] for label in y_fit], dtype="float32")
    train = (
        tf.data.Dataset.from_tensor_slices((x_fit, y_fit, weights))
        .shuffle(len(x_fit), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch_size).cache() if len(x_val) else None
    return train, val


def negative_distances(
    extractor: Any, rejections: Sequence[Rejection], index: dict[str, int], centroids: np.ndarray
) -> tuple[list[tuple[int, float]], np.ndarray]:
    """The negatives' faces (dataset/raw/.negatives/FOLDER/): (person, distance to their reference) of those said
    not to be a trained person, which lower that person's threshold; and every one's distance as a stranger: to
    the person named by its folder, or, in a folder naming nobody in the model (other people's faces added for an
    "is this me?" recogniser), to the closest reference."""
    if not rejections:
        return [], np.array([])
    rows = np.array([index.get(rejection.person, STRANGER) for rejection in rejections])
    scores = score_faces(extractor(rejection_inputs(extractor, rejections)), rows, centroids, k=1)
    named = [(int(row), float(scores.own[i])) for i, row in enumerate(rows) if row != STRANGER]
    strangers = np.where(rows != STRANGER, scores.own, scores.top_distances[:, 0])
    if len(named) < len(rejections):
        log.info(
            "negatives: %d faces in folders naming nobody in the model, taken as strangers",
            len(rejections) - len(named),
        )
    return named, strangers


ONE_PERSON = (
    "training needs faces of at least 2 people, or of 1 person ({name}) and of others: add a second person's "
    f"photos to {LAYOUT.raw}/<name>/, or other people's faces to {LAYOUT.negatives}/others/ "
    '(an "is this me?" recogniser)'
)


def fit_sklearn_logistic(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    class_weights: dict[int, float] | None,
    head: Any,
) -> tuple[list[dict], dict]:
    """scikit-learn's multinomial logistic regression on the standardised features, its C chosen on the
    validation share (never the test set), copied into the Keras head's softmax layer so that the saved
    model loads, predicts and serves as any other. Returns one history row per C tried, and the chosen one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    normalise = head.layers[0]
    z_fit, z_val = np.asarray(normalise(x_fit)), np.asarray(normalise(x_val))
    rows, best = [], None
    for step, c in enumerate(SKLEARN_C_GRID, start=1):
        model = LogisticRegression(C=c, max_iter=2000, class_weight=class_weights)
        model.fit(z_fit, y_fit)
        row = {
            "epoch": step,
            "C": c,
            "accuracy": round(float(model.score(z_fit, y_fit)), 5),
            "loss": round(float(log_loss(y_fit, model.predict_proba(z_fit), labels=model.classes_)), 5),
        }
        if len(x_val):
            row["val_accuracy"] = round(float(model.score(z_val, y_val)), 5)
            row["val_loss"] = round(float(log_loss(y_val, model.predict_proba(z_val), labels=model.classes_)), 5)
        rows.append(row)
        score = (row.get("val_accuracy", row["accuracy"]), -row.get("val_loss", row["loss"]))
        if best is None or score > best[0]:
            best = (score, model, c)
    _, model, chosen = best
    if len(model.classes_) != n_classes:
        raise FaceopsError(f"sklearn_logistic saw {len(model.classes_)} of {n_classes} people in training")
    head.layers[-1].set_weights([model.coef_.T.astype("float32"), model.intercept_.astype("float32")])
    log.info("sklearn_logistic: C %s chosen on the validation share (tried %s)", chosen, SKLEARN_C_GRID)
    return rows, next(row for row in rows if row["C"] == chosen)


SKLEARN_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def fit_keras_head(
    keras: Any,
    head: Any,
    params: TrainParams,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_weights: dict[int, float] | None,
    seed: int,
) -> list[dict]:
    """Adam on the dense or logistic head; one history row per epoch."""
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=8,  # fewer trips through Python per epoch; the same batches and weights (measured)
    )
    callbacks = []
    if params.early_stopping_patience > 0 and len(x_val):
        callbacks.append(
            keras.callbacks.EarlyStopping(patience=params.early_stopping_patience, restore_best_weights=True)
        )
    train_batches, val_batches = fit_batches(x_fit, y_fit, x_val, y_val, params.batch_size, class_weights, seed)
    fitted = head.fit(train_batches, validation_data=val_batches, epochs=params.epochs, callbacks=callbacks, verbose=0)
    return [
        {"epoch": epoch + 1, **{name: round(float(values[epoch]), 5) for name, values in fitted.history.items()}}
        for epoch in range(len(fitted.history["loss"]))
    ]


@dataclass(frozen=True)
class TrainingSet:
    """The split's training faces: the people in the model's output order, and the head's fit and validation
    shares of their faces."""

    labels: list[str]
    train: pd.DataFrame
    fit: pd.DataFrame
    val: pd.DataFrame

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}


def training_set(split: pd.DataFrame, params: TrainParams, seed: int, rejections: Sequence[Rejection]) -> TrainingSet:
    """The people and faces to train on, refused in one line when a model cannot be trained from them."""
    train = split[split["subset"] == "train"]
    labels = sorted(train["person"].unique())
    if not labels:
        raise FaceopsError(f"nobody to train: the split has no training faces (see {LAYOUT.data_validation})")
    if len(labels) == 1 and not rejections:
        raise FaceopsError(ONE_PERSON.format(name=labels[0]))
    if len(labels) == 1 and params.head == "sklearn_logistic":
        raise FaceopsError(
            "train.head is 'sklearn_logistic', which needs 2 people; allowed with 1 person: dense, logistic"
        )
    if params.validation_share > 0:
        marked = split_manifest(train, params.validation_share, seed + 1)
        fit, val = marked[marked["subset"] == "train"], marked[marked["subset"] == "test"]
    else:
        fit, val = train, train.iloc[:0]
    return TrainingSet(labels, train, fit, val)


@dataclass(frozen=True)
class TrainingFeatures:
    """The backbone's features of the fit share (every variant, the originals first) and of the validation share."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    originals: int  # rows of x_fit that are the original faces
    seconds: float


def extract_features(
    data: TrainingSet, image_size: int, seed: int, faces: FacesParams, params: TrainParams, cache: FeatureCache
) -> tuple[FeatureExtractor, TrainingFeatures]:
    """The backbone, built from the settings, and its features of the training faces (cached)."""
    started = time.perf_counter()
    extractor = get_backbone(params.backbone).build(params.weights, image_size, seed, faces.margin)
    variants = training_variants(params.augment, seed, params.backbone)
    index = data.index
    x_fit = np.concatenate([cache.features(extractor, FaceFile.rows(data.fit), v) for v in variants])
    y_fit = np.tile(data.fit["person"].map(index).to_numpy(), len(variants))
    x_val = cache.features(extractor, FaceFile.rows(data.val), ORIGINAL)
    y_val = data.val["person"].map(index).to_numpy()
    features = TrainingFeatures(x_fit, y_fit, x_val, y_val, len(data.fit), time.perf_counter() - started)
    log.info(
        "features: fit %s (%d faces x %d variants), validation %s; cache %d hits, %d misses, %.1f s",
        x_fit.shape,
        len(data.fit),
        len(variants),
        x_val.shape,
        cache.hits,
        cache.misses,
        features.seconds,
    )
    return extractor, features


@dataclass(frozen=True)
class FittedHead:
    head: Any
    history: list[dict]
    last: dict  # the history row the head was kept at
    seconds: float


def fit_centroid_head(
    head: Any, features: TrainingFeatures, n_classes: int, every: bool = True
) -> tuple[list[dict], dict]:
    """The nearest-reference head: its weights are the references the "unknown" threshold uses (the fit share's
    original faces, or with `every` all training faces, as `fit_open_set` makes them). Its one history row:
    accuracy and loss on the fit share, and on the validation share named by references made without it."""
    n = features.originals
    x_fit, y_fit, x_val, y_val = features.x_fit[:n], features.y_fit[:n], features.x_val, features.y_val
    last = head.layers[-1]
    validation = {}
    if len(x_val):
        last.set_weights(centroid_weights(centroids_chunked(x_fit, y_fit, n_classes)))
        validation = {f"val_{name}": value for name, value in _scored(head, x_val, y_val).items()}
    x_all, y_all = (np.concatenate([x_fit, x_val]), np.concatenate([y_fit, y_val])) if every else (x_fit, y_fit)
    last.set_weights(centroid_weights(centroids_chunked(x_all, y_all, n_classes)))
    row = {"epoch": 1, **_scored(head, x_fit, y_fit), **validation}
    return [row], row


def _scored(head: Any, features: np.ndarray, labels: np.ndarray) -> dict:
    probabilities = np.asarray(head(features, training=False))
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "accuracy": round(float(np.mean(probabilities.argmax(axis=1) == labels)), 5),
        "loss": round(float(-np.mean(np.log(np.maximum(picked, 1e-7)))), 5),
    }


def fit_head(keras: Any, features: TrainingFeatures, n_classes: int, params: TrainParams, seed: int) -> FittedHead:
    """The head train.head names, fitted on the features (seeded)."""
    x_fit, y_fit, x_val, y_val = features.x_fit, features.y_fit, features.x_val, features.y_val
    keras.utils.set_random_seed(seed)
    kind = params.head
    built = "logistic" if kind == "sklearn_logistic" else kind
    head = build_head(x_fit, n_classes, built, params.dense_units, params.dropout, params.activation)
    weights = balanced_class_weights(y_fit, n_classes) if params.class_weights == "balanced" else None
    started = time.perf_counter()
    if kind == "centroid":
        history, last = fit_centroid_head(head, features, n_classes, params.unknown.references == "all")
    elif kind == "sklearn_logistic":
        history, last = fit_sklearn_logistic(x_fit, y_fit, x_val, y_val, n_classes, weights, head)
    else:
        history = fit_keras_head(keras, head, params, x_fit, y_fit, x_val, y_val, weights, seed)
        last = history[-1]
    return FittedHead(head, history, last, time.perf_counter() - started)


@dataclass(frozen=True)
class OpenSetFit:
    """The "unknown" answer's calibration: each person's reference, the thresholds and what they were measured on."""

    centroids: np.ndarray
    thresholds: Thresholds
    evidence: OpenSetEvidence
    genuine_faces: int  # faces (each left out of its reference) the expected FRR and the drift baseline come from
    rejected: list[tuple[int, float]]


def fit_open_set(
    extractor: FeatureExtractor,
    data: TrainingSet,
    features: TrainingFeatures,
    rejections: Sequence[Rejection],
    strangers: int,
    seed: int,
    params: TrainParams,
) -> OpenSetFit:
    """References from the original fit faces, or (train.unknown.references all) every original training face;
    the threshold calibrated on strangers (every training face, held out in rotation, and the negatives), lowered
    per person by the rejections; the genuine distances (expected FRR, drift baseline, rejection floors) of the
    validation faces, or with `all` of every face left out of its own reference. Why `all`: with 5 to 10 photos a
    person the validation share is a fifth of their training faces (params.yaml says what that measured). Faces
    are scored in chunks (faceops.model.scoring): memory grows with people x chunk, never with faces x people."""
    n, labels, unknown = features.originals, data.labels, params.unknown
    x_orig, y_orig = features.x_fit[:n], features.y_fit[:n]  # originals come first
    x_all, y_all = np.concatenate([x_orig, features.x_val]), np.concatenate([y_orig, features.y_val])
    every = unknown.references == "all"
    centroids = centroids_chunked(*((x_all, y_all) if every else (x_orig, y_orig)), len(labels))
    folds = people_folds(labels, strangers, seed)
    scores = score_faces(x_all, y_all, centroids, k=neighbours_needed(folds, len(labels)))
    if every:
        scores = dataclasses.replace(scores, own=left_out_distances(x_all, y_all, len(labels)))
    rejected, negatives = negative_distances(extractor, rejections, data.index, centroids)
    evidence = rotation_evidence(scores, y_all, folds, negatives, unknown.target_far)
    if every:
        genuine = np.isfinite(scores.own)  # every face of a person with two or more, left out of its reference
        which = "training faces (each left out of its reference)"
    else:
        genuine = (np.arange(len(y_all)) >= n) if len(data.val) else (np.arange(len(y_all)) < n)
        which = "validation faces" if len(data.val) else "fit faces"
    found = calibrate(scores, y_all, genuine, evidence.impostor, unknown.target_far, unknown.max_person_frr, rejected)
    if rejected:
        lowered = [labels[i] for i, value in enumerate(found.person_thresholds) if value < round(found.threshold, 6)]
        log.info(
            "rejections: %d faces said not to be %d people; threshold lowered for %d (%s)%s",
            len(rejected),
            len({person for person, _ in rejected}),
            len(lowered),
            ", ".join(lowered) or "none",
            f"; held at max_person_frr for {', '.join(labels[i] for i in found.floored)}" if found.floored else "",
        )
    log.info(
        "unknown: threshold %.4f lets %.2f%% of %d impostor faces through (target %.2f%%); "
        "%.2f%% of %d %s fall outside it; rotation: %d false accepts in %d stranger faces (%d folds)",
        found.threshold,
        100 * found.far,
        found.impostors,
        100 * unknown.target_far,
        100 * found.frr,
        int(genuine.sum()),
        which,
        evidence.strangers.false_accepts,
        evidence.strangers.stranger_faces,
        evidence.strangers.folds,
    )
    return OpenSetFit(centroids, found, evidence, int(genuine.sum()), rejected)


def train_metrics(
    data: TrainingSet, features: TrainingFeatures, fitted: FittedHead, open_set: OpenSetFit, cache: FeatureCache
) -> dict:
    """metrics/train.json: the head's last figures, the faces, the time taken and the open-set calibration."""
    last, calibration, strangers = fitted.last, open_set.thresholds, open_set.evidence.strangers
    return {
        "train_accuracy": last["accuracy"],
        "train_loss": last["loss"],
        "val_accuracy": last.get("val_accuracy"),
        "epochs_run": len(fitted.history),
        "people": len(data.labels),
        "train_faces": int(len(data.fit)),
        "val_faces": int(len(data.val)),
        "feature_seconds": round(features.seconds, 2),
        "head_seconds": round(fitted.seconds, 2),
        "cache_hits": cache.hits,
        "cache_misses": cache.misses,
        "unknown_threshold": round(calibration.threshold, 4),
        "unknown_expected_frr": round(calibration.frr, 4),
        "rejections": len(open_set.rejected),
        "stranger_faces": strangers.stranger_faces,
        "false_accepts": strangers.false_accepts,
    }


def model_card(
    data: TrainingSet,
    image_size: int,
    faces: FacesParams,
    params: TrainParams,
    extractor: FeatureExtractor,
    open_set: OpenSetFit,
    metrics: dict,
) -> ModelCard:
    """The card the model is saved with: its people, backbone, crop and train settings, and the open set."""
    backbone, calibration, strangers = get_backbone(params.backbone), open_set.thresholds, open_set.evidence.strangers
    return ModelCard(
        labels=tuple(data.labels),
        backbone=params.backbone,
        weights=backbone.weights_setting(params.weights),
        weights_description=backbone.describe(params.weights),
        weights_identity=extractor.identity,
        feature_key=extractor.key,
        image_size=image_size,
        n_features=extractor.n_features,
        train_faces=int(len(data.train)),
        faces=CropSettings.of(faces),
        train=asdict(params),
        open_set=OpenSet(
            threshold=round(calibration.threshold, 6),
            centroids=tuple(tuple(row) for row in np.round(open_set.centroids, 6).tolist()),
            target_far=params.unknown.target_far,
            expected_far=round(calibration.far, 6),
            expected_frr=round(calibration.frr, 6),
            impostor_faces=calibration.impostors,
            median_distance=calibration.median_distance,
            unknown_share=calibration.unknown_share,
            person_thresholds=calibration.person_thresholds,
            rejections=len(open_set.rejected),
            stranger_faces=strangers.stranger_faces,
            false_accepts=strangers.false_accepts,
            rotation_folds=strangers.folds,
        ),
        metrics=metrics,
        versions=package_versions(),
    )


def train_recogniser(
    split: pd.DataFrame,
    image_size: int,
    seed: int,
    faces: FacesParams,
    params: TrainParams,
    cache: FeatureCache,
    rejections: Sequence[Rejection] = (),
    strangers: int = 2,
) -> TrainResult:
    """Train a head on cached backbone features and return the model to save with its card.

    `faces` are the faces stage's crop settings: dlib's landmark alignment needs the margin to find the
    face, and prediction must crop as the faces stage did, so the card keeps them. `rejections` ("that's not
    NAME" feedback, or others' faces) join the strangers of the open-set calibration and lower NAME's own
    threshold below them. Everyone in the split's train part is in the model; `strangers` people at a time are
    held out of the open-set calibration in rotation (faceops.model.rotation), which measures the false accepts.
    """
    keras = keras_module()
    params = dataclasses.replace(params, head=params.head_kind(get_backbone(params.backbone).default_head))
    data = training_set(split, params, seed, rejections)
    extractor, features = extract_features(data, image_size, seed, faces, params, cache)
    fitted = fit_head(keras, features, len(data.labels), params, seed)
    open_set = fit_open_set(extractor, data, features, rejections, strangers, seed, params)
    last = fitted.last
    log.info(
        "head %s: %d epochs in %.1f s; train accuracy %.3f%s",
        [extractor.n_features, *([params.dense_units] if params.head == "dense" else []), len(data.labels)],
        len(fitted.history),
        fitted.seconds,
        last["accuracy"],
        f", validation accuracy {last['val_accuracy']:.3f}" if "val_accuracy" in last else "",
    )
    metrics = train_metrics(data, features, fitted, open_set, cache)
    card = model_card(data, image_size, faces, params, extractor, open_set, metrics)
    return TrainResult(assemble(extractor, fitted.head), card, fitted.history, metrics)
