"""Benchmark: the whole pipeline on all of lfw-people-20 for each backbone.

Prints test accuracy, macro F1, wall time per stage, images per second in feature extraction and the
peak memory of each stage. Run from the repository root (the venv active):

    python bench/pipeline.py [--data ../shared/datasets/lfw-people-20] [--backbones vgg16 dlib_resnet]

It works in a fresh temporary git + DVC project, so the feature cache starts cold.
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
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Run a command; return its wall seconds and the peak memory (MiB) of it and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{process.stderr.read()[-3000:]}")
    process.stderr.read()
    return seconds, usage.ru_maxrss / 1024


def set_params(project: Path, **sections: dict) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--backbones", nargs="+", default=["vgg16", "dlib_resnet"])
    parser.add_argument("--strangers", type=int, default=0, help="people held out for the open-set rates")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()

    from faceops.backbones import imagenet_weights_available

    imagenet, _ = imagenet_weights_available()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    project = Path(tempfile.mkdtemp(prefix="faceops-bench-"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, project / name)
    for folder in ("stages", "faceops"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    set_params(
        project,
        base={"seed": 42},
        split={"test_size": 0.25, "strangers": args.strangers},
        train={"weights": "imagenet" if imagenet else None},
        # A benchmark measures every backbone, weak ones too: the release gate lets each model go live.
        promote={"min_metric": 0.0, "max_false_accept_rate": 1.0, "max_recall_drop": 1.0},
    )
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["faceops", "import-folder", args.data, "--min-images", "20"],
        ["dvc", "add", "-q", "dataset/raw"],
    ):
        run(command, project, env)

    rows = []
    shared = {stage: run(["dvc", "repro", "-s", stage], project, env) for stage in ("faces", "validate", "split")}
    for backbone in args.backbones:
        set_params(project, train={"backbone": backbone})
        stages = dict(shared)
        for stage in ("train", "evaluate"):
            stages[stage] = run(["dvc", "repro", "-s", stage], project, env)
        train = json.loads((project / "metrics/train.json").read_text())
        evaluation = json.loads((project / "metrics/eval.json").read_text())
        rows.append((backbone, evaluation, train, stages))

    faces = json.loads((project / "metrics/faces.json").read_text())
    print(
        f"lfw-people-20: {faces['photos']} photos, {faces['faces']} faces of {faces['people']} people; "
        f"split 75/25 stratified, seed 42, {args.strangers} strangers; {os.cpu_count()} CPUs"
    )
    print(f"VGG16 weights: {'ImageNet' if imagenet else 'RANDOM (ImageNet weights unreachable from here)'}")
    print()
    print(
        "| backbone | test accuracy | macro F1 | false reject | false accept | faces s | validate s | split s "
        "| train s | evaluate s | features/s (train) | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backbone, evaluation, train, stages in rows:
        rate = train["cache_misses"] / max(train["feature_seconds"], 1e-9)
        far = "-" if evaluation.get("false_accept_rate") is None else f"{evaluation['false_accept_rate']:.1%}"
        print(
            f"| {backbone} | {evaluation['accuracy']:.1%} | {evaluation['macro_f1']:.3f} "
            f"| {evaluation['false_reject_rate']:.1%} | {far} "
            + "".join(f"| {stages[s][0]:.0f} " for s in ("faces", "validate", "split", "train", "evaluate"))
            + f"| {rate:.1f} | {max(m for _, m in stages.values()):.0f} |"
        )
    if args.keep:
        print(f"\nproject kept in {project}")
    else:
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
