"""Benchmark: `dvc repro` of LFW people with cold caches, then adding a new person, on this machine.

    python bench/pipeline.py [--people 61] [--backbone dlib_resnet] [--set faces.detector=hog]
                             [--heads dense,logistic,sklearn_logistic] [--json]

Works in a fresh temporary git + DVC project (cold crop and feature caches). Prints a table: wall
time of the whole `dvc repro` and of each stage's own work, feature extraction speed against a raw
single-process dlib loop over the same aligned faces (timed in the same run), the time of the
`dvc repro` after adding 20 photos of a person it has not seen, and the accuracy. With --json the
last stdout line is one JSON object: repro_seconds, extract_faces_per_s, reference_faces_per_s,
extract_speedup, add_person_seconds, accuracy, macro_f1, false_accept_rate, false_reject_rate,
people, faces, cpus, stage_seconds, and `table`: one row per detector x head (with --heads, each head
retrained on the same cached features): accuracy, macro_f1, false_accept_rate, false_reject_rate,
rejected_photos, seconds (the cold `dvc repro` for the first head, the retrain for the others).

With --backbone vgg16, after the `dvc repro` and on the faces it cropped, the project's own embedding path
(FeatureCache and the VGG16 extractor: crop files on disk to cached features, cold, as the train stage runs it)
against the bare frozen base on the same faces preloaded and preprocessed, at its best batch size; the two are
timed in turn on slices of the set (ABBA order), so that both see the same load of a shared machine.
extract_faces_per_s is then the embedding path's rate (for dlib it stays the train stage's, as
train_extract_faces_per_s is for both), with bare_predict_faces_per_s, extract_to_bare (their ratio),
batch_size (the extractor's, chosen for the device), bare_batch_size, device, precision and
features_min_cosine (embedding path against the bare base, face by face).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
NEWCOMER_PHOTOS = 20


def run(args: list[str], cwd: Path, env: dict, stages: dict[str, float] | None = None) -> float:
    """Run a command; its wall seconds. A failure stops the benchmark with the command's error output.
    With `stages`, the seconds from each "Running stage 'NAME'" line of `dvc repro` to the next go there."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, current, since = [], None, started
    for line in process.stdout:
        output.append(line)
        if stages is not None and line.startswith("Running stage '"):
            now = time.perf_counter()
            if current:
                stages[current] = now - since
            current, since = line.split("'")[1], now
    if process.wait() != 0:
        sys.exit(f"{' '.join(args)} failed:\n{''.join(output)[-3000:]}")
    finished = time.perf_counter()
    if stages is not None and current:
        stages[current] = finished - since
    return finished - started


def set_params(project: Path, assignments: dict[str, object]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    for dotted, value in assignments.items():
        *parents, key = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def pick_people(data: Path, people: int) -> tuple[list[Path], Path]:
    """The `people` folders with the most photos, and the next one as the newcomer added later."""
    folders = sorted((p for p in data.iterdir() if p.is_dir()), key=lambda p: (-len(list(p.iterdir())), p.name))
    if len(folders) <= people:
        sys.exit(f"{data}: {len(folders)} people; --people must be less (one more is needed as the newcomer)")
    return folders[:people], folders[people]


def reference_rate(project: Path, limit: int = 150) -> float:
    """Faces per second of a raw, single-process dlib loop over the faces of the faces stage, aligned as the
    pipeline aligns them (chips from the source photos, made before timing)."""
    sys.path.insert(0, str(project))
    import csv

    from faceops.data.detect import Box
    from faceops.data.images import load_image
    from faceops.model.backbones.dlib_resnet import DlibExtractor

    extractor = DlibExtractor(96, 0.2)
    with open(project / "data/faces.csv") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    chips = [extractor.inputs_from_photo(load_image(project / row["source"]), [Box.parse(row["box"])]) for row in rows]
    extractor(chips[0])  # load the models before timing
    started = time.perf_counter()
    for chip in chips:
        extractor(chip)
    return len(chips) / (time.perf_counter() - started)


BARE_BATCHES_CPU, BARE_BATCHES_GPU = (16, 32, 64, 128), (128, 256, 512, 1024)


def vgg16_rates(project: Path, slice_faces: int = 128) -> dict:
    """The embedding path against the bare base on the faces of the project's faces stage (module docstring):
    both timed on the same slices of `slice_faces` faces in turn (ABBA), wall and CPU seconds, each compiled
    before timing (the embedding path's one-time compile and first run: compile_seconds)."""
    sys.path.insert(0, str(project))
    import pandas as pd

    from faceops.model.backbones import get_backbone, pipeline
    from faceops.model.backbones.vgg16 import vgg16_preprocess
    from faceops.model.features import FaceFile, FeatureCache, load_face

    params = yaml.safe_load((project / "params.yaml").read_text())
    size, seed = params["base"]["image_size"], params["base"]["seed"]
    extractor = get_backbone("vgg16").build(params["train"]["weights"], size, seed, params["faces"]["margin"])
    rows = FaceFile.rows(pd.read_csv(project / "data/faces.csv"))
    faces = [FaceFile(face.sha256, str(project / face.crop)) for face in rows]
    tf = pipeline.tensorflow()
    signature = [tf.TensorSpec((None, size, size, 3))]
    bare = tf.function(lambda x: extractor.base(x, training=False), input_signature=signature, autograph=False)
    inputs = vgg16_preprocess(np.stack([load_face(face.crop, size) for face in faces]))
    candidates = BARE_BATCHES_GPU if pipeline.gpu_devices() else BARE_BATCHES_CPU
    sample = inputs[: 2 * max(candidates)]
    best = max(candidates, key=lambda batch: bare_rate(bare, sample, batch, tf, warm_up=True)[0])
    _, compile_seconds, _ = timed(lambda: extractor.network(tf.zeros((extractor.batch_size, size, size, 3), "uint8")))
    wall, cpu, outputs = {"extract": 0.0, "bare": 0.0}, {"extract": 0.0, "bare": 0.0}, {"extract": [], "bare": []}
    with tempfile.TemporaryDirectory() as cache:
        for number, start in enumerate(range(0, len(faces), slice_faces)):
            part = slice(start, start + slice_faces)
            steps = {
                "extract": lambda part=part: FeatureCache(Path(cache) / str(part.start)).features(
                    extractor, faces[part]
                ),
                "bare": lambda part=part: bare_rate(bare, inputs[part], best, tf)[1],
            }
            for step in ("extract", "bare") if number % 2 == 0 else ("bare", "extract"):
                features, seconds, cpu_seconds = timed(steps[step])
                outputs[step].append(features)
                wall[step] += seconds
                cpu[step] += cpu_seconds
    a, b = np.concatenate(outputs["extract"]), np.concatenate(outputs["bare"])
    cosines = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {
        "extract_faces_per_s": round(len(faces) / wall["extract"], 1),
        "bare_predict_faces_per_s": round(len(faces) / wall["bare"], 1),
        "extract_to_bare": round(wall["bare"] / wall["extract"], 3),
        "extract_to_bare_cpu_time": round(cpu["bare"] / cpu["extract"], 3),
        "compile_seconds": round(compile_seconds, 2),
        "embedded_faces": len(faces),
        "batch_size": extractor.batch_size,
        "bare_batch_size": best,
        "device": pipeline.device_name(),
        "precision": extractor.precision,
        "features_min_cosine": round(float(cosines.min()), 6),
    }


def timed(function: Callable[[], object]) -> tuple[object, float, float]:
    """`function()`, its wall seconds and this process's CPU seconds (every thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bare_rate(bare, inputs, batch: int, tf, warm_up: bool = False) -> tuple[float, np.ndarray]:
    """Faces per second of the compiled base alone on preprocessed faces already on the device, and their features;
    `warm_up`: run the first batch once untimed (a batch size new to it)."""
    batches = [tf.identity(tf.constant(inputs[start : start + batch])) for start in range(0, len(inputs), batch)]
    if warm_up:
        bare(batches[0]).numpy()
    started = time.perf_counter()
    features = [bare(chunk) for chunk in batches]
    features = np.concatenate([np.asarray(chunk, dtype="float32") for chunk in features])
    return len(inputs) / (time.perf_counter() - started), features


def table_row(project: Path, detector: str, head: str, seconds: float) -> dict:
    """One row of the detector x head table, from the project's metrics after a `dvc repro`."""
    evaluation = json.loads((project / "metrics/eval.json").read_text())
    faces = json.loads((project / "metrics/faces.json").read_text())
    return {
        "detector": detector,
        "head": head,
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "false_accept_rate": evaluation.get("false_accept_rate") or 0.0,
        "false_reject_rate": evaluation.get("false_reject_rate") or 0.0,
        "rejected_photos": faces["photos"] - faces["faces"],
        "seconds": round(seconds, 1),
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--people", type=int, default=61, help="people in the first run (one more is added after)")
    parser.add_argument("--backbone", default="dlib_resnet", choices=["dlib_resnet", "vgg16"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml override")
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument(
        "--heads",
        default="",
        help="comma-separated train.head values to compare on the same cached features (e.g. "
        "dense,logistic,sklearn_logistic): one table row each",
    )
    return parser.parse_args()


def new_project(args: argparse.Namespace, env: dict) -> tuple[Path, Path]:
    """A fresh git + DVC project with the chosen people as dataset/raw; the project and the newcomer's folder."""
    project = Path(tempfile.mkdtemp(prefix="faceops-bench-"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, project / name)
    for folder in ("stages", "faceops"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    overrides: dict[str, object] = {
        "train.backbone": args.backbone,
        "train.weights": None if args.backbone == "vgg16" else "imagenet",  # no download here: random VGG16
        # A benchmark measures weak models too: the release gate lets each one go live.
        "promote.min_metric": 0.0,
        "promote.max_false_accept_rate": 1.0,
        "promote.max_false_reject_rate": 1.0,
        "promote.max_recall_drop": 1.0,
    }
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        overrides[key] = yaml.safe_load(value)
    set_params(project, overrides)

    chosen, newcomer = pick_people(Path(args.data), args.people)
    staging = project.parent / (project.name + "-data")
    for folder in chosen:
        shutil.copytree(folder, staging / folder.name)
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["faceops", "import-folder", str(staging)],
        ["dvc", "add", "-q", "dataset/raw"],
    ):
        run(command, project, env)
    shutil.rmtree(staging)
    return project, newcomer


def other_heads(project: Path, heads: str, seconds: float, env: dict) -> list[dict]:
    """The detector x head table: the trained head's row, then each other head retrained on the cached features."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    detector, head = params["faces"]["detector"], params["train"]["head"]
    table = [table_row(project, detector, head, seconds)]
    for other in [h for h in heads.split(",") if h and h != head]:
        set_params(project, {"train.head": other})
        table.append(table_row(project, detector, other, run(["dvc", "repro"], project, env)))
    if len(table) > 1:
        set_params(project, {"train.head": head})
        run(["dvc", "repro"], project, env)
    return table


def add_newcomer(project: Path, newcomer: Path, env: dict) -> tuple[float, dict[str, float]]:
    """`dvc repro` after adding NEWCOMER_PHOTOS photos of a person it has not seen: its seconds, and each stage's."""
    target = project / "dataset/raw" / newcomer.name
    target.mkdir()
    for photo in sorted(newcomer.iterdir())[:NEWCOMER_PHOTOS]:
        shutil.copy(photo, target / photo.name)
    run(["dvc", "add", "-q", "dataset/raw"], project, env)
    stages: dict[str, float] = {}
    return run(["dvc", "repro"], project, env, stages), stages


def print_table(result: dict, train: dict, newcomer: str) -> None:
    """The human-readable figures of `result` (what --json prints), as markdown tables."""
    print(f"{result['photos']} photos -> {result['faces']} faces of {result['people']} people; {result['cpus']} CPUs")
    print(f"backbone {result['backbone']}; overrides: {', '.join(result['overrides']) or 'none'}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| `dvc repro`, cold caches | {result['repro_seconds']:.0f} s |")
    for name, seconds in result["stage_seconds"].items():
        again = result["add_person_stage_seconds"].get(name, 0)
        print(f"| stage {name} (then after adding a person) | {seconds:.0f} s ({again:.0f} s) |")
    print(f"| descriptors computed by train | {train['cache_misses']} in {train['feature_seconds']:.0f} s |")
    print(f"| extraction in the train stage | {result['train_extract_faces_per_s']:.1f} faces/s |")
    if result.get("bare_predict_faces_per_s"):
        print(
            f"| embedding path (FeatureCache, {result['embedded_faces']} crops, cold): batch {result['batch_size']}, "
            f"{result['device']}, {result['precision']} | {result['extract_faces_per_s']:.1f} faces/s |"
        )
        print(
            f"| bare VGG16 base, preloaded (best batch {result['bare_batch_size']}) | "
            f"{result['bare_predict_faces_per_s']:.1f} faces/s |"
        )
        print(
            f"| embedding path / bare base | {result['extract_to_bare']:.2f} (features: cosine >= "
            f"{result['features_min_cosine']}) |"
        )
    if result["reference_faces_per_s"]:
        reference = result["reference_faces_per_s"]
        print(f"| raw single-process dlib loop | {reference:.1f} faces/s ({result['extract_speedup']:.2f}x) |")
    print(f"| `dvc repro` after adding {NEWCOMER_PHOTOS} photos of {newcomer} | {result['add_person_seconds']:.0f} s |")
    print(f"| test accuracy, macro F1 | {result['accuracy']:.1%}, {result['macro_f1']:.3f} |")
    far, frr = result["false_accept_rate"], result["false_reject_rate"]
    if far is not None:
        print(f"| false accept, false reject | {far:.1%}, {frr:.1%} |")
    print()
    print("| detector | head | accuracy | macro F1 | FAR | FRR | rejected photos | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for row in result["table"]:
        print(
            f"| {row['detector']} | {row['head']} | {row['accuracy']:.2%} | {row['macro_f1']:.3f} | "
            f"{row['false_accept_rate']:.2%} | {row['false_reject_rate']:.2%} | {row['rejected_photos']} | "
            f"{row['seconds']:.0f} |"
        )


def main() -> None:
    args = arguments()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    project, newcomer = new_project(args, env)

    stage_seconds: dict[str, float] = {}
    repro_seconds = run(["dvc", "repro"], project, env, stage_seconds)
    train = json.loads((project / "metrics/train.json").read_text())
    evaluation = json.loads((project / "metrics/eval.json").read_text())
    faces = json.loads((project / "metrics/faces.json").read_text())
    train_rate = train["cache_misses"] / max(train["feature_seconds"], 1e-9)
    reference = reference_rate(project) if args.backbone == "dlib_resnet" else None
    embedding = vgg16_rates(project) if args.backbone == "vgg16" else {"extract_faces_per_s": round(train_rate, 1)}
    table = other_heads(project, args.heads, repro_seconds, env)
    add_seconds, add_stage_seconds = add_newcomer(project, newcomer, env)
    after = json.loads((project / "metrics/faces.json").read_text())

    result = {
        "backbone": args.backbone,
        "overrides": args.set,
        "people": faces["people"],
        "photos": faces["photos"],
        "faces": faces["faces"],
        "cpus": len(os.sched_getaffinity(0)),
        "repro_seconds": round(repro_seconds, 1),
        **embedding,
        "train_extract_faces_per_s": round(train_rate, 1),
        "reference_faces_per_s": round(reference, 1) if reference else None,
        "extract_speedup": round(train_rate / reference, 2) if reference else None,
        "train_descriptors": train["cache_misses"],
        "add_person_seconds": round(add_seconds, 1),
        "stage_seconds": {name: round(value, 1) for name, value in stage_seconds.items()},
        "add_person_stage_seconds": {name: round(value, 1) for name, value in add_stage_seconds.items()},
        "people_after_adding": after["people"],
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "false_accept_rate": evaluation.get("false_accept_rate"),
        "false_reject_rate": evaluation.get("false_reject_rate"),
        "table": table,
    }
    print_table(result, train, newcomer.name)
    if args.keep:
        print(f"project kept in {project}")
    else:
        shutil.rmtree(project, ignore_errors=True)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
