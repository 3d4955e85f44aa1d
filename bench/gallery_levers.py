"""Benchmark: the open-set levers for galleries of 5 to 10 photos a person, measured offline on cached descriptors.

    python bench/gallery_levers.py --project DIR [--seeds 0 1 2 3 4] [--json OUT]

DIR is a project that ran the whole demo data through `dvc repro` with `train.backbone: dlib_resnet`
(`python bench/gallery.py --min-photos 1000 --max-photos 1000 --keep`): its data/faces.csv and its feature
cache (dlib descriptors of every face; the mirrored chips are computed into the same cache on first use).
Each seed subsamples every person as `bench/gallery.py --seed SEED` does (the same photos), splits as the
pipeline does (split.test_size, base.seed; the head's validation share with base.seed + 1) and runs the
pipeline's open-set protocol in numpy: references, rotation of split.strangers people at a time (every
training face a stranger once), the threshold at train.unknown.target_far, the cross-validated false accepts,
and FRR / accuracy on the test faces. A lever replaces one step. Levers are chosen on an inner split of each
gallery's training part (its own rotation and inner test faces); the outer test faces only report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from faceops.core.params import load_params  # noqa: E402
from faceops.data.split import split_manifest  # noqa: E402
from faceops.model.features import ORIGINAL, FaceFile, FeatureCache, Variant  # noqa: E402
from faceops.model.recogniser import unit_rows  # noqa: E402
from faceops.model.rotation import cross_validated_false_accepts, people_folds  # noqa: E402
from faceops.model.scoring import far_threshold  # noqa: E402


def subsample(manifest: pd.DataFrame, seed: int, low: int, high: int) -> pd.DataFrame:
    """The faces of the photos `bench/gallery.py --seed SEED` copies (same hashes of names)."""
    keep = []
    names = manifest["source"].map(lambda s: Path(s).name)
    for person, rows in manifest.groupby("person"):
        photos = sorted(
            {Path(s).name for s in rows["source"]}, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest()
        )
        spread = high - low + 1
        count = low + int(hashlib.sha256(f"{seed}:{person}".encode()).hexdigest(), 16) % spread
        keep.append(rows[names[rows.index].isin(photos[:count])])
    return pd.concat(keep)


def read_manifest(project: Path) -> pd.DataFrame:
    """The project's data/faces.csv, its photo and crop paths made absolute (the project is not the cwd)."""
    manifest = pd.read_csv(project / "data/faces.csv")
    for column in ("source", "path"):
        manifest[column] = manifest[column].map(lambda s: s if Path(s).is_absolute() else str(project / s))
    return manifest


@dataclass
class Features:
    original: dict[str, np.ndarray]  # sha256 -> unit descriptor
    flip: dict[str, np.ndarray]


def load_features(project: Path, manifest: pd.DataFrame, flip: bool) -> Features:
    from faceops.model.backbones import get_backbone

    params = load_params(project / "params.yaml")
    extractor = get_backbone("dlib_resnet").build(None, params.base.image_size, params.base.seed, params.faces.margin)
    faces = FaceFile.rows(manifest)
    cache = FeatureCache(project / ".faceops/features")
    shas = manifest["sha256"].tolist()
    original = dict(zip(shas, unit_rows(cache.features(extractor, faces, ORIGINAL))))
    mirrored = dict(zip(shas, unit_rows(cache.features(extractor, faces, Variant("flip"))))) if flip else {}
    return Features(original, mirrored)


@dataclass
class Gallery:
    """One gallery's faces as arrays: training faces (fit + validation) and test faces."""

    labels: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    is_fit: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    f_train: np.ndarray  # mirrored chips' descriptors (or the originals when not computed)
    f_test: np.ndarray


def gallery(split: pd.DataFrame, feats: Features, seed: int, validation_share: float) -> Gallery:
    train = split[split["subset"] == "train"]
    test = split[split["subset"] == "test"]
    labels = sorted(train["person"].unique())
    index = {p: i for i, p in enumerate(labels)}
    marked = split_manifest(train, validation_share, seed + 1)

    def rows(table: pd.DataFrame, source: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([source.get(s, feats.original[s]) for s in table["sha256"]]).astype(np.float64)

    return Gallery(
        labels,
        rows(marked, feats.original),
        marked["person"].map(index).to_numpy(),
        (marked["subset"] == "train").to_numpy(),
        rows(test, feats.original),
        test["person"].map(index).to_numpy(),
        rows(marked, feats.flip),
        rows(test, feats.flip),
    )


@dataclass(frozen=True)
class Lever:
    name: str
    refs_from: str = "fit"  # fit: the head's fit share (today); all: every training face
    flip_refs: bool = False  # references from the originals and their mirrors
    flip_test: bool = False  # every face described as the mean of its chip and its mirror (2x the descriptor cost)
    score: str = "centroid"  # centroid, nearest (closest training face), ratio (closest / second closest centroid)
    head: str = "centroid"  # centroid (nearest reference) or dense (the pipeline's head, for accuracy)
    shrink_k: float | None = None  # per-person offsets from own spread, weight n / (n + k); None: global only
    count_c: float = 0.0  # offset c * (1/n - mean 1/n): a threshold that grows as a person's faces fall
    cohort_beta: float = 0.0  # offset beta * (cohort tail - mean): lower thresholds in crowded places
    cohort_k: int = 3


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def references(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    sums = np.zeros((n, x.shape[1]))
    np.add.at(sums, y, unit(x))
    return unit(sums / np.bincount(y, minlength=n)[:, None])


def loo_spread(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per person: the mean leave-one-out distance of their faces to the mean of their other faces, and counts."""
    z = unit(x)
    sums = np.zeros((n, x.shape[1]))
    np.add.at(sums, y, z)
    counts = np.bincount(y, minlength=n)
    others = unit(sums[y] - z)
    d = 1 - np.sum(z * others, axis=1)
    spread = np.bincount(y, weights=d, minlength=n) / np.maximum(counts, 1)
    return spread, counts


def offsets(lever: Lever, x: np.ndarray, y: np.ndarray, refs: np.ndarray, n: int) -> np.ndarray:
    """Per-person threshold offsets (added to the global threshold), each from the person's training faces."""
    off = np.zeros(n)
    spread, counts = loo_spread(x, y, n)
    if lever.shrink_k is not None:
        weight = counts / (counts + lever.shrink_k)
        pooled = np.sum(spread * counts) / counts.sum()
        off += weight * (spread - pooled)
    if lever.count_c:
        off += lever.count_c * (1 / counts - np.mean(1 / counts))
    return off


def cohort_offsets(lever: Lever, x: np.ndarray, y: np.ndarray, refs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """beta * (each reference's cohort tail - the mean tail): the mean distance of the `cohort_k` closest faces of
    other people (rows in `keep` only: in the rotation, never the held-out strangers' own faces)."""
    if not lever.cohort_beta:
        return np.zeros(len(refs))
    d = 1 - unit(x[keep]) @ refs.T  # faces x references
    d[np.arange(int(keep.sum())), y[keep]] = np.inf
    tail = np.sort(d, axis=0)[: lever.cohort_k].mean(axis=0)
    present = np.isfinite(tail)
    return np.where(present, lever.cohort_beta * (tail - tail[present].mean()), 0.0)


def score_matrix(lever: Lever, x: np.ndarray, refs: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """faces x people: the distance the threshold acts on (before offsets)."""
    if lever.score == "nearest":
        d = 1 - unit(x) @ unit(gx).T
        out = np.full((len(x), len(refs)), np.inf)
        for person in range(len(refs)):
            out[:, person] = d[:, gy == person].min(axis=1)
        return out
    return 1 - unit(x) @ refs.T


def rotation(
    s: np.ndarray,
    y: np.ndarray,
    folds: list[list[int]],
    target_far: float,
    ratio: bool,
    cohort: Callable[[np.ndarray], np.ndarray],
) -> tuple[float, int, int]:
    """Threshold from every training face held out with its fold, and the cross-validated false accepts;
    `cohort(keep)`: per-person offsets from the faces in `keep` (the fold's own faces left out)."""
    n = s.shape[1]
    fold_of_person = np.full(n, -1)
    for number, fold in enumerate(folds):
        fold_of_person[fold] = number
    fold_of = fold_of_person[y]
    strangers = np.empty(len(y))
    for number in range(len(folds)):
        mine = fold_of == number
        gallery_s = (s[mine] - cohort(~mine))[:, fold_of_person != number]
        strangers[mine] = _best(gallery_s, ratio)
    ordered = np.sort(strangers)
    threshold = far_threshold(lambda i: float(ordered[i]), len(ordered), target_far)
    count = cross_validated_false_accepts(strangers, fold_of, np.array([]), target_far)
    return threshold, count.false_accepts, count.stranger_faces


def _best(s: np.ndarray, ratio: bool) -> np.ndarray:
    if not ratio:
        return s.min(axis=1)
    two = np.sort(s, axis=1)[:, :2]
    return two[:, 0] / np.maximum(two[:, 1], 1e-9)


def dense_predictions(g: Gallery, x_fit: np.ndarray, y_fit: np.ndarray, x_val, y_val, x_test, seed: int) -> np.ndarray:
    """The pipeline's head (train.head dense, as params.yaml sets it), trained on the fit share."""
    from faceops.model.backbones import keras_module
    from faceops.model.train import TrainingFeatures, fit_head

    params = load_params(REPO / "params.yaml").train
    keras = keras_module()
    features = TrainingFeatures(x_fit.astype("float32"), y_fit, x_val.astype("float32"), y_val, len(x_fit), 0.0)
    fitted = fit_head(keras, features, len(g.labels), params, seed)
    return np.asarray(fitted.head.predict(x_test.astype("float32"), verbose=0)).argmax(axis=1)


def run(lever: Lever, g: Gallery, seed: int, strangers: int, target_far: float, dense: dict) -> dict:
    n = len(g.labels)
    x_train = unit(unit(g.x_train) + unit(g.f_train)) if lever.flip_test else g.x_train
    x_test = unit(unit(g.x_test) + unit(g.f_test)) if lever.flip_test else g.x_test
    ref_rows = g.is_fit if lever.refs_from == "fit" else np.ones(len(g.y_train), bool)
    rx, ry = x_train[ref_rows], g.y_train[ref_rows]
    if lever.flip_refs:
        rx, ry = np.concatenate([rx, g.f_train[ref_rows]]), np.concatenate([ry, ry])
    refs = references(rx, ry, n)
    off = offsets(lever, x_train[ref_rows], g.y_train[ref_rows], refs, n)
    folds = people_folds(g.labels, strangers, seed)
    s_train = score_matrix(lever, x_train, refs, rx, ry) - off
    ratio = lever.score == "ratio"
    cx, cy = x_train[ref_rows], g.y_train[ref_rows]
    fold_faces = ref_rows.copy()

    def cohort(keep: np.ndarray) -> np.ndarray:  # keep: training rows; the cohort is the reference rows among them
        return cohort_offsets(lever, cx, cy, refs, keep[fold_faces])

    threshold, false_accepts, stranger_faces = rotation(s_train, g.y_train, folds, target_far, ratio, cohort)
    s_test = score_matrix(lever, x_test, refs, rx, ry) - off - cohort(np.ones(len(g.y_train), bool))
    if lever.head == "dense":
        key = lever.flip_test
        if key not in dense:
            fit, val = g.is_fit, ~g.is_fit
            dense[key] = dense_predictions(g, x_train[fit], g.y_train[fit], x_train[val], g.y_train[val], x_test, seed)
        predicted = dense[key]
    else:
        predicted = s_test.argmin(axis=1)
    picked = s_test[np.arange(len(predicted)), predicted]
    if ratio:  # the picked person's distance over the closest other person's
        others = s_test.copy()
        others[np.arange(len(predicted)), predicted] = np.inf
        picked = picked / np.maximum(others.min(axis=1), 1e-9)
    rejected = picked > threshold
    return {
        "test_faces": len(g.y_test),
        "errors": int(np.sum(predicted != g.y_test)),
        "rejected": int(rejected.sum()),
        "false_accepts": false_accepts,
        "stranger_faces": stranger_faces,
        "threshold": float(threshold),
    }


LEVERS = [
    Lever("today (dense head, refs from fit share)", head="dense"),
    Lever("nearest-centroid head, refs from fit share"),
    Lever("refs from all training faces", refs_from="all"),
    Lever("refs all + dense head", refs_from="all", head="dense"),
    Lever("refs all + flip refs", refs_from="all", flip_refs=True),
    Lever("refs all + flip test-time (2x cost)", refs_from="all", flip_test=True),
    Lever("refs all + nearest face", refs_from="all", score="nearest"),
    Lever("refs all + ratio d1/d2", refs_from="all", score="ratio"),
    *[Lever(f"refs all + shrink k={k}", refs_from="all", shrink_k=k) for k in (0.0, 2.0, 5.0, 10.0, 20.0)],
    *[Lever(f"refs all + count c={c}", refs_from="all", count_c=c) for c in (0.05, 0.1, 0.2)],
    *[Lever(f"refs all + cohort b={b}", refs_from="all", cohort_beta=b) for b in (0.25, 0.5, 1.0)],
    *[Lever(f"refs all + cohort b=0.5 k={k}", refs_from="all", cohort_beta=0.5, cohort_k=k) for k in (1, 10)],
    Lever("refs all + flip refs + cohort b=0.5", refs_from="all", flip_refs=True, cohort_beta=0.5),
    Lever("refs all + cohort b=0.5 + dense head", refs_from="all", cohort_beta=0.5, head="dense"),
    Lever("refs fit + cohort b=0.5 + dense head", cohort_beta=0.5, head="dense"),
]


def summarise(rows: list[dict]) -> dict:
    test = sum(r["test_faces"] for r in rows)
    strangers = sum(r["stranger_faces"] for r in rows)
    return {
        "accuracy": 1 - sum(r["errors"] for r in rows) / test,
        "frr": sum(r["rejected"] for r in rows) / test,
        "far": sum(r["false_accepts"] for r in rows) / strangers,
        "test_faces": test,
        "stranger_faces": strangers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--min-photos", type=int, default=5)
    parser.add_argument("--max-photos", type=int, default=10)
    parser.add_argument("--levers", default="", help="comma-separated lever numbers (default: all)")
    parser.add_argument("--target-far", type=float, help="replaces train.unknown.target_far (a stricter threshold)")
    parser.add_argument("--json", help="write every per-seed row here")
    args = parser.parse_args()
    project = Path(args.project)
    params = load_params(REPO / "params.yaml")
    seed, test_size = params.base.seed, params.split.test_size
    strangers, target_far = params.split.strangers, args.target_far or params.train.unknown.target_far
    manifest = read_manifest(project)
    levers = [LEVERS[int(i)] for i in args.levers.split(",")] if args.levers else LEVERS
    feats = load_features(project, manifest, flip=any(lv.flip_refs or lv.flip_test for lv in levers))
    results: dict[str, dict[str, list[dict]]] = {lv.name: {"inner": [], "outer": []} for lv in levers}
    for gallery_seed in args.seeds:
        sub = subsample(manifest, gallery_seed, args.min_photos, args.max_photos)
        split = split_manifest(sub, test_size, seed)
        outer = gallery(split, feats, seed, params.train.validation_share)
        train = split[split["subset"] == "train"].drop(columns="subset")
        inner = gallery(split_manifest(train, test_size, seed + 100), feats, seed, params.train.validation_share)
        dense_inner: dict = {}
        dense_outer: dict = {}
        for lever in levers:
            results[lever.name]["inner"].append(run(lever, inner, seed, strangers, target_far, dense_inner))
            results[lever.name]["outer"].append(run(lever, outer, seed, strangers, target_far, dense_outer))
        print(f"seed {gallery_seed}: {len(sub)} faces, {outer.y_test.size} test", file=sys.stderr)
    print(f"{'lever':<45} | inner FRR   FAR    acc  | test FRR   FAR    acc  | test FRR per seed")
    for lever in levers:
        inner, outer = summarise(results[lever.name]["inner"]), summarise(results[lever.name]["outer"])
        per_seed = " ".join(f"{100 * r['rejected'] / r['test_faces']:4.1f}" for r in results[lever.name]["outer"])
        print(
            f"{lever.name:<45} | {100 * inner['frr']:5.2f} {100 * inner['far']:5.2f} {100 * inner['accuracy']:6.2f} "
            f"| {100 * outer['frr']:5.2f} {100 * outer['far']:5.2f} {100 * outer['accuracy']:6.2f} | {per_seed}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
