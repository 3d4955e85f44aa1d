"""Benchmark: training and open-set calibration at scale, on synthetic embeddings, in bounded memory.

    python bench/scale.py --faces 200000 --people 10000 [--dim 128] [--strangers 0.1] [--fold-size 2] [--json]

Synthetic face descriptors: each person a direction (sharing a common component, as real descriptors
do), their faces spread around it by a per-person amount with per-face jitter, people holding from 2 to
hundreds of faces (log-normal), plus stranger faces of people outside the gallery (the train stage's
negatives). One face in five of each person is held out. Training: the nearest-centroid references
(faceops.model.scoring.centroids_chunked); calibration: the train stage's own path (faceops.model.train.fit_open_set):
chunked scores (score_faces), the rotation holding `--fold-size` people out at a time (split.strangers) with its
cross-validated false accepts (faceops.model.rotation.rotation_evidence), and the thresholds (calibrate). Prints a
table and, last, one JSON line: peak_rss_mb, train_seconds, calibrate_seconds, cpu_seconds, faces, people, ..."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic(faces: int, people: int, dim: int, strangers: float, seed: int):
    """(features float32 faces x dim, labels with -1 for strangers), generated in chunks."""
    import numpy as np

    from faceops.model.recogniser import unit_rows
    from faceops.model.scoring import STRANGER

    rng = np.random.default_rng(seed)
    n_strangers = int(round(faces * strangers))
    known = faces - n_strangers
    if known < 2 * people:
        raise SystemExit(f"--faces {faces}: {known} known faces for {people} people; allowed: at least 2 per person")
    weights = rng.lognormal(0.0, 1.0, people)
    extra = rng.choice(people, size=known - 2 * people, p=weights / weights.sum())
    labels = np.concatenate([np.repeat(np.arange(people), 2), extra, np.full(n_strangers, STRANGER)])
    labels = labels[rng.permutation(len(labels))]
    stranger_people = max(1, n_strangers // 5)
    shared = rng.normal(size=dim)
    shared *= 0.6 / np.linalg.norm(shared)
    centres = unit_rows(shared + rng.normal(size=(people + stranger_people, dim)) / np.sqrt(dim)).astype(np.float32)
    spread = rng.lognormal(np.log(0.45), 0.25, people + stranger_people).astype(np.float32)
    owner = np.where(labels >= 0, labels, people + rng.integers(0, stranger_people, len(labels)))
    features = np.empty((len(labels), dim), dtype=np.float32)
    for start in range(0, len(labels), 65536):
        rows = slice(start, min(start + 65536, len(labels)))
        who = owner[rows]
        scale = spread[who] * rng.lognormal(0.0, 0.3, len(who)).astype(np.float32)
        noise = rng.standard_normal((len(who), dim), dtype=np.float32) / np.float32(np.sqrt(dim))
        features[rows] = unit_rows(centres[who] + scale[:, None] * noise)
    return features, labels


def held_out_mask(labels, every: int = 5):
    """One face in `every` of each person (never their first), so each keeps a face to train on."""
    import numpy as np

    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - starts
    return (labels >= 0) & (rank % every == 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, required=True)
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--dim", type=int, default=128, help="descriptor size (dlib: 128)")
    parser.add_argument("--strangers", type=float, default=0.1, help="share of faces of people outside the gallery")
    parser.add_argument("--target-far", type=float, default=0.01)
    parser.add_argument("--k", type=int, default=5, help="closest people kept per face (top-k accuracy)")
    parser.add_argument("--fold-size", type=int, default=2, help="people held out at a time (split.strangers)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import numpy as np

    from faceops.model.rotation import neighbours_needed, people_folds, rotation_evidence
    from faceops.model.scoring import calibrate, centroids_chunked, score_faces

    started = time.perf_counter()
    features, labels = synthetic(args.faces, args.people, args.dim, args.strangers, args.seed)
    generate_seconds = time.perf_counter() - started
    held_out = held_out_mask(labels)
    fit = (labels >= 0) & ~held_out
    strangers = labels < 0

    started, cpu = time.perf_counter(), time.process_time()
    centroids = centroids_chunked(features[fit], labels[fit], args.people)
    train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - cpu

    started, cpu = time.perf_counter(), time.process_time()
    folds = people_folds([f"person{row}" for row in range(args.people)], args.fold_size, args.seed)
    scores = score_faces(features, labels, centroids, k=neighbours_needed(folds, args.people, at_least=args.k))
    evidence = rotation_evidence(scores, labels, folds, scores.top_distances[strangers, 0], args.target_far)
    thresholds = calibrate(scores, labels, held_out, evidence.impostor, args.target_far)
    calibrate_seconds, calibrate_cpu = time.perf_counter() - started, time.process_time() - cpu

    k = min(args.k, scores.top_people.shape[1])
    top1 = float(np.mean(scores.top_people[held_out, 0] == labels[held_out]))
    topk = float(np.mean((scores.top_people[held_out, :k] == labels[held_out][:, None]).any(axis=1)))
    stranger_far = (
        float(np.mean(scores.top_distances[strangers, 0] <= thresholds.threshold)) if strangers.any() else 0.0
    )
    rotation = evidence.strangers
    figures = {
        "faces": args.faces,
        "people": args.people,
        "dim": args.dim,
        "held_out": int(held_out.sum()),
        "strangers": int(strangers.sum()),
        "generate_seconds": round(generate_seconds, 2),
        "train_seconds": round(train_seconds, 2),
        "calibrate_seconds": round(calibrate_seconds, 2),
        "cpu_seconds": round(train_cpu + calibrate_cpu, 2),  # every thread's: steadier than wall time on a busy host
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threshold": round(thresholds.threshold, 6),
        "expected_far": round(thresholds.far, 5),
        "expected_frr": round(thresholds.frr, 5),
        "stranger_far": round(stranger_far, 5),
        "rotation_folds": rotation.folds,
        "rotation_far": round(rotation.false_accepts / max(rotation.stranger_faces, 1), 5),
        "top1_accuracy": round(top1, 5),
        f"top{k}_accuracy": round(topk, 5),
        "cores": len(os.sched_getaffinity(0)),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }
    print(f"{args.faces} faces ({figures['strangers']} strangers) of {args.people} people, {args.dim}-d descriptors")
    print("| figure | value |")
    print("|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
