"""The `train` stage: frozen backbone features (VGG16 or dlib's ResNet, cached) and a new head trained with Adam."""

from __future__ import annotations

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
from faceops.model.recogniser import assemble, build_head, centroid_distances, person_centroids
from faceops.model.rotation import (
    Calibration,
    StrangerCount,
    calibrate_unknown,
    cross_validated_false_accepts,
    held_out_distances,
    negative_folds,
    people_folds,
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


def person_thresholds(
    threshold: float,
    rejected: Sequence[tuple[int, float]],
    own: np.ndarray,
    own_labels: np.ndarray,
    n_classes: int,
    max_person_frr: float,
) -> tuple[tuple[float, ...], list[int]]:
    """Per person: the global threshold, lowered below every face rejected as theirs ("not NAME"), but never so far
    that more than `max_person_frr` of their own faces (`own`, distances to their reference) fall outside it.
    `rejected`: (person, distance of the rejected face to their reference). Also returns the people whose floor held.
    """
    thresholds, floored = [threshold] * n_classes, []
    for person in sorted({person for person, _ in rejected}):
        closest = min(distance for who, distance in rejected if who == person)
        mine = np.sort(own[own_labels == person])
        keep = int(np.ceil((1 - max_person_frr) * len(mine)))  # own faces that must stay inside
        floor = float(mine[keep - 1]) if keep > 0 else 1e-6
        wanted = closest - 1e-6
        if wanted < floor:
            floored.append(person)
        thresholds[person] = float(min(threshold, max(wanted, floor, 1e-6)))
    return tuple(round(value, 6) for value in thresholds), floored


def drift_baseline(genuine: np.ndarray, labels: np.ndarray, n_classes: int, threshold: float) -> dict:
    """Per person: the median distance of their held-out faces to their reference, and the share beyond the
    threshold; `faceops monitor` compares what the service sees with these. A person without held-out faces
    gets everyone's figures."""
    overall = (float(np.median(genuine)), float(np.mean(genuine > threshold))) if len(genuine) else (0.0, 0.0)
    medians, shares = [], []
    for person in range(n_classes):
        mine = genuine[labels == person]
        medians.append(round(float(np.median(mine)), 6) if len(mine) else round(overall[0], 6))
        shares.append(round(float(np.mean(mine > threshold)), 6) if len(mine) else round(overall[1], 6))
    return {"median_distance": tuple(medians), "unknown_share": tuple(shares)}


def negative_distances(
    extractor: Any, rejections: Sequence[Rejection], index: dict[str, int], centroids: np.ndarray
) -> tuple[list[tuple[int, float]], np.ndarray]:
    """The negatives' faces (dataset/raw/.negatives/FOLDER/): (person, distance to their reference) of those said
    not to be a trained person, which lower that person's threshold; and every one's distance as a stranger: to
    the person named by its folder, or, in a folder naming nobody in the model (other people's faces added for an
    "is this me?" recogniser), to the closest reference."""
    if not rejections:
        return [], np.array([])
    distances = centroid_distances(extractor(rejection_inputs(extractor, rejections)), centroids)
    rows = [index.get(rejection.person) for rejection in rejections]
    named = [(row, float(distances[i, row])) for i, row in enumerate(rows) if row is not None]
    strangers = np.array([distances[i, row] if row is not None else distances[i].min() for i, row in enumerate(rows)])
    if len(named) < len(rejections):
        log.info(
            "negatives: %d faces in folders naming nobody in the model, taken as strangers",
            len(rejections) - len(named),
        )
    return named, strangers


@dataclass(frozen=True)
class OpenSetEvidence:
    impostor: np.ndarray  # what the live threshold is calibrated on
    strangers: StrangerCount  # the cross-validated false accepts


def rotation_evidence(
    distances: np.ndarray,
    labels: np.ndarray,
    people: Sequence[str],
    negatives: np.ndarray,
    per_fold: int,
    seed: int,
    target_far: float,
) -> OpenSetEvidence:
    """Hold people out in folds of `per_fold` (split.strangers) over faces that are all in the live model: their
    distances to each fold's gallery, and the negatives', calibrate the live threshold and measure false accepts."""
    folds = people_folds(people, per_fold, seed)
    held_out = held_out_distances(distances, labels, folds)
    fold_of = np.full(len(labels), -1)
    for number, fold in enumerate(folds):
        fold_of[np.isin(labels, fold)] = number
    held = fold_of >= 0  # one person alone has no fold: only the negatives are strangers then
    n_folds = len(folds) or min(5, len(negatives))
    strangers = np.concatenate([held_out[held], negatives])
    fold_ids = np.concatenate([fold_of[held], negative_folds(len(negatives), n_folds)])
    count = cross_validated_false_accepts(strangers, fold_ids, np.array([]), target_far)
    return OpenSetEvidence(strangers, count)


ONE_PERSON = (
    "training needs faces of at least 2 people, or of 1 person ({name}) and of others: add a second person's "
    f"photos to {LAYOUT.raw}/<name>/, or other people's faces to {LAYOUT.negatives}/others/ "
    '(an "is this me?" recogniser)'
)


def nearest_other_distances(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each face's distance to the closest reference that is not its own person's."""
    others = distances.copy()
    others[np.arange(len(labels)), labels] = np.inf
    return others.min(axis=1)


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


def fit_head(keras: Any, features: TrainingFeatures, n_classes: int, params: TrainParams, seed: int) -> FittedHead:
    """The head train.head names, fitted on the features (seeded)."""
    x_fit, y_fit, x_val, y_val = features.x_fit, features.y_fit, features.x_val, features.y_val
    keras.utils.set_random_seed(seed)
    kind = "logistic" if params.head == "sklearn_logistic" else params.head
    head = build_head(x_fit, n_classes, kind, params.dense_units, params.dropout, params.activation)
    weights = balanced_class_weights(y_fit, n_classes) if params.class_weights == "balanced" else None
    started = time.perf_counter()
    if params.head == "sklearn_logistic":
        history, last = fit_sklearn_logistic(x_fit, y_fit, x_val, y_val, n_classes, weights, head)
    else:
        history = fit_keras_head(keras, head, params, x_fit, y_fit, x_val, y_val, weights, seed)
        last = history[-1]
    return FittedHead(head, history, last, time.perf_counter() - started)


@dataclass(frozen=True)
class OpenSetFit:
    """The "unknown" answer's calibration: each person's reference, the threshold and what it was measured on."""

    centroids: np.ndarray
    calibration: Calibration
    evidence: OpenSetEvidence
    genuine: np.ndarray  # held-out faces' distances to their own reference
    genuine_labels: np.ndarray
    per_person: tuple[float, ...]
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
    """References from the original fit faces; the threshold calibrated on strangers (every training and
    validation face, held out in rotation, and the negatives), lowered per person by the rejections."""
    n, labels, unknown = features.originals, data.labels, params.unknown
    x_orig, y_orig = features.x_fit[:n], features.y_fit[:n]  # originals come first
    centroids = person_centroids(x_orig, y_orig, len(labels))
    x_all, y_all = np.concatenate([x_orig, features.x_val]), np.concatenate([y_orig, features.y_val])
    all_distances = centroid_distances(x_all, centroids)
    rejected, negatives = negative_distances(extractor, rejections, data.index, centroids)
    evidence = rotation_evidence(all_distances, y_all, labels, negatives, strangers, seed, unknown.target_far)
    x_ref, y_ref = (features.x_val, features.y_val) if len(data.val) else (x_orig, y_orig)
    genuine = centroid_distances(x_ref, centroids)[np.arange(len(y_ref)), y_ref]
    calibration = calibrate_unknown(evidence.impostor, genuine, unknown.target_far)
    own = all_distances[np.arange(len(y_all)), y_all]
    per_person, floored = person_thresholds(
        calibration.threshold, rejected, own, y_all, len(labels), unknown.max_person_frr
    )
    if rejected:
        lowered = [labels[i] for i, value in enumerate(per_person) if value < round(calibration.threshold, 6)]
        log.info(
            "rejections: %d faces said not to be %d people; threshold lowered for %d (%s)%s",
            len(rejected),
            len({person for person, _ in rejected}),
            len(lowered),
            ", ".join(lowered) or "none",
            f"; held at max_person_frr for {', '.join(labels[i] for i in floored)}" if floored else "",
        )
    log.info(
        "unknown: threshold %.4f lets %.2f%% of %d impostor faces through (target %.2f%%); "
        "%.2f%% of %d validation faces fall outside it; rotation: %d false accepts in %d stranger faces (%d folds)",
        calibration.threshold,
        100 * calibration.far,
        calibration.impostors,
        100 * unknown.target_far,
        100 * calibration.frr,
        len(genuine),
        evidence.strangers.false_accepts,
        evidence.strangers.stranger_faces,
        evidence.strangers.folds,
    )
    return OpenSetFit(centroids, calibration, evidence, genuine, y_ref, per_person, rejected)


def train_metrics(
    data: TrainingSet, features: TrainingFeatures, fitted: FittedHead, open_set: OpenSetFit, cache: FeatureCache
) -> dict:
    """metrics/train.json: the head's last figures, the faces, the time taken and the open-set calibration."""
    last, calibration, strangers = fitted.last, open_set.calibration, open_set.evidence.strangers
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
    backbone, calibration, strangers = get_backbone(params.backbone), open_set.calibration, open_set.evidence.strangers
    n_classes = len(data.labels)
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
            **drift_baseline(open_set.genuine, open_set.genuine_labels, n_classes, calibration.threshold),
            person_thresholds=open_set.per_person if open_set.rejected else (),
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
