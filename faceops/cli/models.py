"""Commands on model versions: predict with the live model, promote, models (the registry), rollback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from faceops.cli.common import RECORDS_HELP
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT


def _predict(args: argparse.Namespace) -> int:
    from faceops.data.images import load_image
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser

    predictor = FacePredictor(Recogniser.load(args.model))
    photos = _photos(args.photos)
    results = []
    failed = False
    if len(photos) == 1:
        try:
            answers = [(0, predictor.predict(load_image(photos[0])))]
        except FaceopsError as exc:
            answers = [(0, exc)]
    else:  # many photos: through the backbone's input pipeline, many faces a batch
        answers = predictor.predict_many(photos)
    for item, faces in answers:
        if isinstance(faces, FaceopsError):
            failed = True
            results.append({"photo": photos[item], "error": str(faces)})
            continue
        results.append({"photo": photos[item], "faces": [face.to_dict() for face in faces]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(f"error: {result['error']}", file=sys.stderr)
            elif not result["faces"]:
                print(f"{result['photo']}: no face found")
            for face in result.get("faces", []):
                box = face["box"]
                print(
                    f"{result['photo']}: {face['name']} ({face['confidence']:.0%}) "
                    f"at x={box['x']} y={box['y']} {box['width']}x{box['height']}"
                )
    return 1 if failed else 0


def _photos(arguments: list[str]) -> list[str]:
    """The photos named, a folder standing for the photos in it (by name, not its subfolders)."""
    from pathlib import Path

    from faceops.data.images import is_image_name

    photos = []
    for argument in arguments:
        folder = Path(argument)
        if folder.is_dir():
            photos.extend(str(path) for path in sorted(folder.iterdir()) if path.is_file() and is_image_name(path))
        else:
            photos.append(argument)
    return photos


def _promote(args: argparse.Namespace) -> int:
    """Replace a live model that cannot be read: the one deliberate way past gate v2's fail-closed check."""
    from faceops.core import dvc
    from faceops.model.recogniser import Recogniser
    from faceops.release.gate import GateVerdict
    from faceops.release.paired import REPLACE_UNREADABLE_ENV, live_exists

    if not args.replace_unreadable:
        print(
            "error: faceops promote needs --replace-unreadable; a readable live model is replaced only by a "
            "candidate that passes the release gate (`dvc repro`)",
            file=sys.stderr,
        )
        return 2
    if live_exists(args.model):
        try:
            Recogniser.load(args.model)
        except FaceopsError as exc:
            print(f"replacing the unreadable live model: {exc}", file=sys.stderr)
        else:
            raise FaceopsError(
                f"{args.model} reads: the release gate compares with it; run `dvc repro` (nothing replaced)"
            )
    dvc.run("repro", "--force", "-s", "evaluate", env={REPLACE_UNREADABLE_ENV: "1"})
    verdict = GateVerdict.read(args.gate)
    if not verdict.promoted:
        failed = "; ".join(verdict.failed_checks())
        print(f"candidate REFUSED by the release gate ({failed}); nothing replaced", file=sys.stderr)
        return 1
    print(f"PROMOTED: {args.model} replaced by the candidate; commit dvc.lock to record it")
    return 0


def _replay(args: argparse.Namespace) -> int:
    """The recent recognitions named again by the live model and the candidate: whose answers would change."""
    from faceops.people.forgotten import forgotten
    from faceops.records.store import open_store
    from faceops.release.replay import replay

    store = open_store(args.records)  # first: a --records that cannot be right is the error to report
    result = replay(store, args.candidate, args.model, args.since, forgotten(".", LAYOUT.raw))
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.text())
    return 0


def _models(args: argparse.Namespace) -> int:
    from faceops.release.registry import format_versions, register, versions

    if args.register:
        version = register(".")
        print(f"registered {version}, stage live" if version else "HEAD's live model is registered already")
    found = versions(".")
    if args.json:
        print(json.dumps([dataclasses.asdict(v) for v in found], indent=2))
    else:
        print(format_versions(found) if found else "no model versions registered (faceops models --register)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from faceops.release.registry import rollback

    target = rollback(".", args.version)
    print(
        f"{target.version} is live again (accuracy {target.accuracy}, commit {target.commit[:8]}); "
        f"commit dvc.lock and {LAYOUT.eval_metrics} to keep it, `git push --tags` to share the GTO tags"
    )
    return 0


def add_promote(commands: argparse._SubParsersAction) -> None:
    """`faceops promote --replace-unreadable`: the candidate replaces a live model that cannot be read."""
    command = commands.add_parser(
        "promote",
        help="--replace-unreadable: the candidate replaces a live model that cannot be read (floors still apply)",
    )
    command.add_argument(
        "--replace-unreadable",
        action="store_true",
        help="run the evaluate stage allowing a candidate to replace a live model or card that cannot be read",
    )
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--gate", default=LAYOUT.gate)
    command.set_defaults(handler=_promote)


def add_replay(commands: argparse._SubParsersAction) -> None:
    """`faceops replay`: the recent recognitions through the candidate and the live model, what changes."""
    command = commands.add_parser(
        "replay",
        help="name the recent faces (crops still kept) with the candidate and the live model: whose answers change",
        description="Replays the service's recent recognitions whose crop the record store still keeps through the "
        "candidate and the live model, and prints per person how many faces would get another answer.",
    )
    command.add_argument("--since", default="7d", help="7d, 12h, 30m or a date (default 7d)")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--candidate", default=LAYOUT.candidate)
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_replay)


def add_models(commands: argparse._SubParsersAction) -> None:
    """`faceops models`: the registered model versions; --register registers HEAD's live model."""
    command = commands.add_parser(
        "models", help="model versions (GTO): version, date, accuracy, FAR, FRR, people, data version, live"
    )
    command.add_argument("--register", action="store_true", help="register HEAD's live model and make it live")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_models)


def add_rollback(commands: argparse._SubParsersAction) -> None:
    """`faceops rollback [VERSION]`: make an earlier model version live again."""
    command = commands.add_parser("rollback", help="make an earlier model version live again (from the DVC cache)")
    command.add_argument("version", nargs="?", help="e.g. v0.1.0; default: the version before the live one")
    command.set_defaults(handler=_rollback)


def add_predict(commands: argparse._SubParsersAction) -> None:
    """`faceops predict PHOTO…`: name the faces in photos with the live model; a folder stands for its photos."""
    command = commands.add_parser("predict", help="name the faces in photos")
    command.add_argument("photos", nargs="+", help="photos, or folders of photos (many: batched through the network)")
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_predict)
