"""Benchmark: a real-looking gallery (few photos a person) through `dvc repro` with the default params.

    python bench/gallery.py [--folder PERSON_FOLDERS] [--people 20] [--min-photos 5] [--max-photos 10]
                            [--set key=value] [--json] [--keep]

The gallery is a folder of person folders (--folder), or the demo data (../shared/datasets/lfw-people-20)
with each person subsampled to between --min-photos and --max-photos photos (seeded). It runs in a fresh
temporary git + DVC project with the default params.yaml, except `train.backbone: dlib_resnet` (offline).
Prints a table; with --json the last stdout line is one JSON object: people, photos, accuracy,
false_reject_rate, false_accept_rate, far_interval, stranger_faces, ms_per_photo, confused_pairs (the five
most confused pairs, actual -> predicted, with counts), promoted and repro_exit. The figures are the
candidate's (metrics/candidate.json), so a model the release gate refuses is measured too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.pipeline import set_params  # noqa: E402 - the bench folder is not a package on the path


def build_gallery(args: argparse.Namespace, target: Path) -> None:
    """Person folders copied into `target`: all of --folder, or a seeded subsample of --data."""
    if args.folder:
        shutil.copytree(args.folder, target)
        return
    folders = sorted(p for p in Path(args.data).iterdir() if p.is_dir())[: args.people or None]
    for folder in folders:
        photos = sorted(folder.iterdir(), key=lambda p: hashlib.sha256(f"{args.seed}:{p.name}".encode()).hexdigest())
        spread = args.max_photos - args.min_photos + 1
        keep = args.min_photos + int(hashlib.sha256(f"{args.seed}:{folder.name}".encode()).hexdigest(), 16) % spread
        (target / folder.name).mkdir(parents=True)
        for photo in photos[:keep]:
            shutil.copy(photo, target / folder.name / photo.name)


def confused_pairs(project: Path, top: int = 5) -> list[dict]:
    """The candidate's most frequent mistakes on the test faces (features from the pipeline's cache)."""
    os.chdir(project)
    import pandas as pd

    from faceops.model.evaluate import evaluate_recogniser
    from faceops.model.features import FeatureCache
    from faceops.model.recogniser import Recogniser

    split = pd.read_csv("data/split.csv")
    evaluation = evaluate_recogniser(
        Recogniser.load("models/candidate.keras"), split, FeatureCache(".faceops/features")
    )
    mistakes = Counter(
        (row["actual"], row["predicted"]) for row in evaluation.confusion if row["actual"] != row["predicted"]
    )
    return [{"actual": a, "predicted": p, "faces": n} for (a, p), n in mistakes.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", help="a folder of person folders (replaces --data)")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--people", type=int, default=0, help="with --data: the first N people (0: all)")
    parser.add_argument("--min-photos", type=int, default=5)
    parser.add_argument("--max-photos", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml override")
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    project = Path(tempfile.mkdtemp(prefix="faceops-gallery-"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, project / name)
    for folder in ("stages", "faceops"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    overrides: dict[str, object] = {"train.backbone": "dlib_resnet"}
    overrides.update({k: yaml.safe_load(v) for k, _, v in (a.partition("=") for a in args.set)})
    set_params(project, overrides)
    staging = project.parent / (project.name + "-data")
    build_gallery(args, staging)
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["faceops", "import-folder", str(staging)]):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
    shutil.rmtree(staging)
    subprocess.run(["dvc", "add", "-q", "dataset/raw"], cwd=project, env=env, check=True, capture_output=True)

    started = time.perf_counter()
    repro = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    candidate_file = project / "metrics/candidate.json"
    if not candidate_file.exists():
        sys.exit(f"dvc repro stopped before evaluation (exit {repro.returncode}):\n{repro.stderr[-3000:]}")
    candidate = json.loads(candidate_file.read_text())
    faces = json.loads((project / "metrics/faces.json").read_text())
    gate = json.loads((project / "reports/gate.json").read_text())
    result = {
        "people": faces["people"],
        "photos": faces["photos"],
        "trained_people": len(json.loads((project / "models/candidate.json").read_text())["labels"]),
        "accuracy": candidate["accuracy"],
        "false_reject_rate": candidate["false_reject_rate"],
        "false_accept_rate": candidate["false_accept_rate"],
        "far_interval": candidate.get("far_interval"),
        "stranger_faces": candidate["stranger_faces"],
        "ms_per_photo": round(1000 * seconds / max(faces["photos"], 1), 1),
        "repro_seconds": round(seconds, 1),
        "promoted": gate["promoted"],
        "gate_notes": gate.get("notes", []),
        "repro_exit": repro.returncode,
        "confused_pairs": confused_pairs(project),
    }
    rows = [(key, value) for key, value in result.items() if key != "confused_pairs"]
    rows += [("confused", f"{p['actual']} -> {p['predicted']}: {p['faces']}") for p in result["confused_pairs"]]
    width = max(len(key) for key, _ in rows)
    print("\n".join(f"{key:<{width}}  {value}" for key, value in rows))
    if args.keep:
        print(f"project kept in {project}")
    else:
        shutil.rmtree(project, ignore_errors=True)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
