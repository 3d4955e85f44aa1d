"""`faceops …`: what people do by hand. The pipeline itself runs with `dvc repro`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from faceops.errors import FaceopsError

RAW_DIR = "dataset/raw"
MODEL_PATH = "models/model.keras"


def _import_folder(args: argparse.Namespace) -> int:
    from faceops.dataset import import_folder

    summary = import_folder(args.source, args.dest, args.min_images, args.max_people, args.max_images)
    print(
        f"{summary.people} people, {summary.copied} photos copied into {args.dest} "
        f"({summary.already_present} already there, {summary.skipped_people} people left out by --min-images/--max-people)"
    )
    print(f"next: dvc add {args.dest} && git add {args.dest}.dvc && git commit, then dvc repro")
    return 0


def _import_lfw(args: argparse.Namespace) -> int:
    from faceops.dataset import import_lfw

    summary = import_lfw(args.dest, args.min_images, args.max_people)
    print(f"{summary.people} people, {summary.copied} photos copied into {args.dest}")
    return 0


def _check_weights(args: argparse.Namespace) -> int:
    from faceops.backbones import imagenet_unreachable_message, imagenet_weights_available

    available, reason = imagenet_weights_available()
    if available:
        print("VGG16 ImageNet weights: available")
        return 0
    print(f"VGG16 ImageNet weights: UNAVAILABLE. {imagenet_unreachable_message(reason)}", file=sys.stderr)
    return 3


def _predict(args: argparse.Namespace) -> int:
    from faceops.images import load_image
    from faceops.model import Recogniser
    from faceops.predict import FacePredictor

    predictor = FacePredictor(Recogniser.load(args.model))
    results = []
    failed = False
    for photo in args.photos:
        try:
            faces = predictor.predict(load_image(photo))
        except FaceopsError as exc:
            failed = True
            results.append({"photo": photo, "error": str(exc)})
            continue
        results.append({"photo": photo, "faces": [face.to_dict() for face in faces]})
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


def _retrain(args: argparse.Namespace) -> int:
    from faceops.config import from_mapping, load_params_file
    from faceops.retrain import RetrainParams, Workspace, plan, retrain, write_report

    section = dict(load_params_file(args.params).get("retrain") or {})
    if args.threshold is not None:
        section["threshold"] = args.threshold
    params = from_mapping(RetrainParams, section, "retrain")
    if args.dry_run:
        print("\n".join(plan(params)))
        return 0
    outcome = retrain(params, args.metrics, Workspace("."))
    write_report(args.report, params, outcome)
    baseline = outcome.baseline.get(params.metric)
    for attempt in outcome.attempts:
        score = "crashed: " + str(attempt.error) if attempt.metrics is None else f"{params.metric} {attempt.metrics[params.metric]:.4f}"
        print(f"  {attempt.name}: {score} ({attempt.verdict}, {attempt.seconds:.0f} s)")
    messages = {
        "passed": f"PASSED: {params.metric} meets {params.threshold}",
        "improved_below_threshold": f"IMPROVED but still below {params.threshold}",
        "no_improvement": f"NO IMPROVEMENT over the current model ({params.metric} {baseline}); it stays in place",
    }
    chosen = f"; applied {outcome.chosen} to the workspace" if outcome.chosen else ""
    print(f"{messages[outcome.status]} (was {baseline}){chosen}; report in {args.report}")
    return outcome.exit_code


def _report(args: argparse.Namespace) -> int:
    from faceops.config import load_params_file
    from faceops.report import SmtpSettings, build_report, compose_email, send_email, write_report_html

    params = load_params_file(args.params)
    retrain = params.get("retrain") or {}
    report = build_report(".", float(retrain.get("threshold", 0.9)), str(retrain.get("metric", "accuracy")))
    write_report_html(report, args.out)
    print(f"{report.verdict}; report written to {args.out}")
    if args.email:
        given = [address.strip() for value in args.to or [] for address in value.split(",") if address.strip()]
        recipients = given or list((params.get("report") or {}).get("recipients") or [])
        if not recipients:
            raise FaceopsError("no recipients: pass --to ADDRESS or set report.recipients in params.yaml")
        settings = SmtpSettings.from_env()
        send_email(compose_email(report, settings.sender, recipients), settings)
        print(f"sent to {', '.join(recipients)} through {settings.host}:{settings.port}")
    return 0


def _capture(args: argparse.Namespace) -> int:
    import subprocess

    from faceops.capture import CaptureSettings, capture

    settings = CaptureSettings(args.count, args.every, args.min_face, args.min_sharpness, args.duplicate_difference)
    summary = capture(args.person, args.source, args.dest, settings, preview=args.preview)
    print("\n".join(summary.lines()))
    if not summary.saved:
        raise FaceopsError(f"no photo of {args.person} was saved; see the reasons above")
    steps = [["dvc", "add", args.dest], ["git", "add", f"{args.dest}.dvc", str(Path(args.dest).parent / ".gitignore")],
             ["git", "commit", "-m", f"capture: {len(summary.saved)} photos of {args.person}"]]
    if args.commit:
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode != 0:
                raise FaceopsError(f"`{' '.join(step)}` failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
        print("committed; next: git push && dvc push, then dvc repro")
    else:
        print("next: " + " && ".join(" ".join(f"'{a}'" if " " in a else a for a in step) for step in steps)
              + " && git push && dvc push; then dvc repro")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from faceops.serve import serve

    serve(args.model, args.host, args.port, args.metrics)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceops", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log counts and shapes as work proceeds")
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("import-folder", help="copy a photo tree (one folder per person) into the data set")
    command.add_argument("source", help="folder with one sub-folder of photos per person")
    command.add_argument("--dest", default=RAW_DIR)
    command.add_argument("--min-images", type=int, default=1, help="skip people with fewer photos")
    command.add_argument("--max-people", type=int, help="keep the people with the most photos")
    command.add_argument("--max-images", type=int, help="copy at most this many photos per person")
    command.set_defaults(handler=_import_folder)

    command = commands.add_parser("capture", help="record face photos of one person (webcam, video file or folder)")
    command.add_argument("--person", required=True, help="the name to save the photos under")
    command.add_argument("--source", default="0", help="camera index, video file or folder of photos (default: camera 0)")
    command.add_argument("--count", type=int, default=100, help="stop after this many photos")
    command.add_argument("--every", type=int, default=1, help="look at every Nth frame only")
    command.add_argument("--dest", default=RAW_DIR)
    command.add_argument("--min-face", type=int, default=60, help="smallest face width in pixels")
    command.add_argument("--min-sharpness", type=float, default=20.0, help="variance of the Laplacian; lower is blurry")
    command.add_argument("--duplicate-difference", type=float, default=4.0,
                         help="mean grey-level change from the last saved face below which a frame is a repeat")
    command.add_argument("--preview", action="store_true", help="show a window with the boxes (needs a display)")
    command.add_argument("--commit", action="store_true", help="dvc add and git commit the photos afterwards")
    command.set_defaults(handler=_capture)

    command = commands.add_parser("import-lfw", help="download LFW through scikit-learn (needs a network)")
    command.add_argument("--dest", default=RAW_DIR)
    command.add_argument("--min-images", type=int, default=20)
    command.add_argument("--max-people", type=int)
    command.set_defaults(handler=_import_lfw)

    command = commands.add_parser("check-weights", help="download the VGG16 ImageNet weights, or say why not (exit 3)")
    command.set_defaults(handler=_check_weights)

    command = commands.add_parser("predict", help="name the faces in photos")
    command.add_argument("photos", nargs="+")
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_predict)

    command = commands.add_parser("serve", help="web service and page: POST /predict, GET /model, GET /")
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--metrics", default="metrics/eval.json", help="shown by GET /model when it exists")
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=8000)
    command.set_defaults(handler=_serve)

    command = commands.add_parser(
        "retrain",
        help="below the accuracy threshold, try the tweaks in retrain.schedule as DVC experiments",
        description="Exit 0: passed (or already passing); 2: improved but below the threshold; "
        "3: no attempt beat the current model, which stays; 1: an error.",
    )
    command.add_argument("--params", default="params.yaml")
    command.add_argument("--metrics", default="metrics/eval.json", help="the evaluate stage's metrics file")
    command.add_argument("--report", default="reports/retrain.json")
    command.add_argument("--threshold", type=float, help="override retrain.threshold")
    command.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    command.set_defaults(handler=_retrain)

    command = commands.add_parser(
        "report",
        help="write the accuracy report as HTML, and e-mail it with --email",
        description="SMTP settings come from FACEOPS_SMTP_HOST, _PORT, _SECURITY (starttls, ssl or none), "
        "_USER, _PASSWORD and _FROM.",
    )
    command.add_argument("--params", default="params.yaml")
    command.add_argument("--out", default="reports/report.html")
    command.add_argument("--email", action="store_true", help="send it over SMTP as well")
    command.add_argument("--to", action="append", help="recipients, comma-separated or repeated; default: report.recipients")
    command.set_defaults(handler=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.handler(args)
    except FaceopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
