"""`faceops …`: what people do by hand. The pipeline itself runs with `dvc repro`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

from faceops.core.errors import FaceopsError, UsageError
from faceops.core.names import cli_person_name

RAW_DIR = "dataset/raw"
CAPTURE_OPTIONS = {  # CaptureSettings fields as options: ((kind, lowest, highest), help); defaults: the dataclass
    "count": ((int, 1, None), "stop after this many photos"),
    "every": ((int, 1, None), "look at every Nth frame only"),
    "min_face": ((int, 1, None), "smallest face width in pixels"),
    "min_sharpness": ((float, 0, None), "variance of the Laplacian; lower is blurry"),
    "min_difference": (
        (int, 0, 64),
        "perceptual-hash bits (of 64) a face must differ from every saved photo of the person",
    ),
}
MODEL_PATH = "models/model.keras"
DRIFT_EXIT = 3  # `faceops monitor`: someone drifted (CI marks the build unstable), not an error
RECORDS_HELP = (
    "where waiting crops, feedback and the recognition log are: a folder, or remote://NAME/PATH for the DVC "
    "remote NAME's bucket, shared by service replicas (default: FACEOPS_RECORDS, else this project)"
)


def _import_folder(args: argparse.Namespace) -> int:
    from faceops.data.dataset import import_folder

    summary = import_folder(args.source, args.dest, args.min_images, args.max_people, args.max_images)
    for line in summary.skipped_files:
        print(f"skipped {line}", file=sys.stderr)
    print(
        f"{summary.people} people, {summary.copied} photos copied into {args.dest} "
        f"({summary.already_present} already there, "
        f"{summary.skipped_people} people left out by --min-images/--max-people)"
    )
    print(f"next: dvc add {args.dest} && git add {args.dest}.dvc && git commit, then dvc repro")
    return 0


def _import_lfw(args: argparse.Namespace) -> int:
    from faceops.data.dataset import import_lfw

    summary = import_lfw(args.dest, args.min_images, args.max_people)
    print(f"{summary.people} people, {summary.copied} photos copied into {args.dest}")
    return 0


def _check_weights(args: argparse.Namespace) -> int:
    from faceops.model.backbones.vgg16 import imagenet_unreachable_message, imagenet_weights_available

    available, reason = imagenet_weights_available()
    if available:
        print("VGG16 ImageNet weights: available")
        return 0
    print(f"VGG16 ImageNet weights: UNAVAILABLE. {imagenet_unreachable_message(reason)}", file=sys.stderr)
    return 3


def _predict(args: argparse.Namespace) -> int:
    from faceops.data.images import load_image
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser

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


def _threshold_override(args: argparse.Namespace) -> dict | None:
    """--threshold replaces retrain.threshold, checked like the file's own value."""
    return {"retrain": {"threshold": args.threshold}} if args.threshold is not None else None


def _retrain(args: argparse.Namespace) -> int:
    from faceops.core.params import load_params
    from faceops.release.retrain import Workspace, plan, retrain, write_report

    params = load_params(args.params, _threshold_override(args)).retrain
    if args.dry_run:
        print("\n".join(plan(params)))
        return 0
    outcome = retrain(params, args.metrics, Workspace("."))
    write_report(args.report, params, outcome)
    baseline = outcome.baseline.get(params.metric)
    for attempt in outcome.attempts:
        score = (
            "crashed: " + str(attempt.error)
            if attempt.metrics is None
            else f"{params.metric} {attempt.metrics[params.metric]:.4f}"
        )
        print(f"  {attempt.name}: {score} ({attempt.verdict}, {attempt.seconds:.0f} s)")
    messages = {
        "passed": f"PASSED: {params.metric} meets {params.threshold}",
        "improved_below_threshold": f"IMPROVED but still below {params.threshold}",
        "no_improvement": f"NO IMPROVEMENT over the current model ({params.metric} {baseline}); it stays in place",
        "interrupted": f"INTERRUPTED by {outcome.interrupted_by}: the workspace is as it was before retraining",
    }
    chosen = f"; applied {outcome.chosen} to the workspace" if outcome.chosen else ""
    print(f"{messages[outcome.status]} (was {baseline}){chosen}; report in {args.report}")
    return outcome.exit_code


def _report(args: argparse.Namespace) -> int:
    from faceops.core.params import load_params
    from faceops.release.report import (
        BuildInfo,
        SmtpSettings,
        build_report,
        check_drift,
        compose_email,
        send_email,
        write_report_html,
    )

    params = load_params(args.params, _threshold_override(args))
    recipients = report_recipients(args.to, params.report.recipients) if args.email else []
    settings = SmtpSettings.resolve(params.report) if args.email else None  # refuse bad settings before the work
    build = BuildInfo(args.result or None, args.stage or None, args.base or "HEAD")
    drift = None if build.failed else check_drift(".", args.records, args.drift_since)
    report = build_report(".", params.retrain.threshold, params.retrain.metric, build=build, drift=drift)
    write_report_html(report, args.out)
    print(f"{report.verdict}; report written to {args.out}")
    if settings is not None:
        send_email(compose_email(report, settings.sender, recipients), settings)
        print(f"sent to {', '.join(recipients)} through {settings.host}:{settings.port}")
    return 0


def report_recipients(given: list[str] | None, configured: tuple[str, ...]) -> list[str]:
    """--to (or REPORT_TO) when given, else report.recipients; none at all is an error."""
    from faceops.core.params import parse_addresses

    recipients = parse_addresses(given, "--to") or list(configured)
    if not recipients:
        raise FaceopsError(
            "no recipients: pass --to ADDRESS (REPORT_TO in Jenkins) or set report.recipients in params.yaml"
        )
    return recipients


def _capture(args: argparse.Namespace) -> int:
    from faceops.core.params import FacesParams, load_params
    from faceops.data.capture import CaptureSettings, capture
    from faceops.data.detect import FaceDetector
    from faceops.people.forgotten import refuse_forgotten

    refuse_forgotten(args.person, ".", args.dest, "--re-enrol", args.re_enrol)  # before the camera starts
    settings = CaptureSettings(**{name: getattr(args, name) for name in CAPTURE_OPTIONS}, interval=args.interval)
    # The faces stage's detector settings; outside a project (no params.yaml yet) their defaults.
    faces = load_params(args.params).faces if Path(args.params).exists() else FacesParams()
    detector = FaceDetector(faces)
    summary = capture(
        args.person,
        args.source,
        args.dest,
        settings,
        detector=detector,
        preview=args.preview,
        prompt=lambda text: print(f"-> {text}", file=sys.stderr, flush=True),
    )
    print("\n".join(summary.lines()))
    if not summary.saved:
        raise FaceopsError(f"no photo of {args.person} was saved; see the reasons above")
    steps = [
        ["dvc", "add", args.dest],
        # The folder holds the .dvc file and, where DVC wrote one, its .gitignore; the photos stay ignored.
        ["git", "add", str(Path(args.dest).parent)],
        ["git", "commit", "-m", f"capture: {len(summary.saved)} photos of {args.person}"],
    ]
    _record(steps, args.commit)
    return 0


def _record(steps: list[list[str]], commit: bool) -> None:
    """Run the dvc/git steps that record new data (with `commit`), or print them as the next thing to do."""
    from faceops.core import tools

    if commit:
        for step in steps:
            tools.dvc(*step[1:]) if step[0] == "dvc" else tools.git(*step[1:])
        print("committed; next: git push && dvc push (the on-push job retrains), or dvc repro here")
    else:
        print(
            "next: "
            + " && ".join(" ".join(f"'{a}'" if " " in a else a for a in step) for step in steps)
            + " && git push && dvc push; then dvc repro"
        )


def _enrol(args: argparse.Namespace) -> int:
    from faceops.core import tools

    args.commit = True
    _capture(args)
    if args.push:
        tools.dvc("push", "--quiet")
        tools.git("push")
        print("pushed: the on-push Jenkins job retrains with them")
    return 0


def _forget(args: argparse.Namespace) -> int:
    from faceops.core.names import refuse_second_spelling
    from faceops.people.forget import find, nothing_found, people_in, resume, start
    from faceops.records.store import open_store

    store = open_store(args.records)
    journal = resume(args.person, ".")
    if journal is not None:  # an unfinished forget: its plan, not a new search (which finds less)
        if not args.yes:
            done = ", ".join(journal.done) or "no step"
            print(f"an unfinished forget of {args.person} ({done} done); run again with --yes to finish it")
            return 0
        return _forget_finish(args, journal, store)
    plan = find(args.person, ".", use_remote=not args.no_remote, store=store)
    if plan.empty:
        message, is_error = nothing_found(args.person)
        if is_error:
            refuse_second_spelling(args.person, people_in(Path(".")), "--person")  # `josé` for `José`: say whom
            raise FaceopsError(message)
        print(message)
        return 0
    if not args.yes:
        if args.json:
            print(json.dumps({"plan": [dataclasses.asdict(item) for item in plan.found], "stays": plan.remaining}))
        else:
            print("\n".join(plan.lines()))
            print("nothing was changed; run again with --yes to forget them")
        return 0
    return _forget_finish(args, start(plan, ".", retrain=not args.no_retrain), store)


def _forget_finish(args: argparse.Namespace, journal, store) -> int:  # noqa: ANN001 - forget.Journal, RecordStore
    from faceops.people.forget import finish

    try:
        receipt = finish(journal, store, ".")
    except KeyboardInterrupt:
        print(f"interrupted: run faceops forget --person {args.person} --yes again to finish", file=sys.stderr)
        return 130
    plan = journal.plan
    if args.json:
        print(json.dumps(receipt.to_dict()))
    else:
        print("\n".join(plan.lines()[:1]))
        print(f"retrain without them: {receipt.retrained}")
        verdict = "nothing of them is left" if receipt.verified else "NO, see the receipt"
        print(f"verified by a second search: {verdict}")
        print("\n".join(f"  checked: {line}" for line in receipt.checked))
        print(f"receipt: {' and '.join(receipt.files)}")
        print(f"next: git add {RAW_DIR}.dvc dvc.lock {' '.join(receipt.files)} && git commit && dvc push && git push")
    return 0 if receipt.verified else 1


def _feedback(args: argparse.Namespace) -> int:
    import datetime as dt

    from faceops.data.negatives import NEGATIVES_DIR
    from faceops.records.feedback import FeedbackStore
    from faceops.records.store import open_store

    store = FeedbackStore(open_store(args.records))
    if args.action == "list":
        entries = store.entries()
        print("| id | verdict | answered | model | thumbnail | when |\n|---|---|---|---|---|---|")
        for record in entries:
            verdict = f"is {record.person}" if record.verdict == "is" else f"is not {record.person}"
            when = dt.datetime.fromtimestamp(record.time).strftime("%Y-%m-%d %H:%M")
            print(
                f"| {record.id} | {verdict} | {record.name} ({record.distance:.3f}) | {record.model_version} | "
                f"{store.thumbnail(record.id)} | {when} |"
            )
        print(f"{len(entries)} waiting; faceops feedback accept ID… (or --all), faceops feedback reject ID…")
        return 0
    records = store.select(args.ids, args.all)
    if args.action == "accept":  # never re-create someone forgotten by accident; nothing is accepted then
        from faceops.people.forgotten import refuse_forgotten

        for person in sorted({record.person for record in records}):
            refuse_forgotten(person, ".", RAW_DIR, "--re-enrol (or faceops feedback reject their ids)", args.re_enrol)
    if args.action == "reject":
        store.discard(records)
        print(f"{len(records)} discarded")
        return 0
    saved = store.accept(records, RAW_DIR, NEGATIVES_DIR)
    corrections = sum(record.verdict == "is" for record in records)
    print(f"{corrections} photos added to {RAW_DIR}, {len(records) - corrections} to {NEGATIVES_DIR}")
    for path in saved:
        print(f"  {path}")
    message = f"feedback: {corrections} corrections, {len(records) - corrections} rejections"
    _record([["dvc", "add", RAW_DIR], ["git", "add", "dataset"], ["git", "commit", "-m", message]], args.commit)
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from faceops.model.card import ModelCard, card_path
    from faceops.records.drift import MonitorSettings, format_drift, summarise_drift
    from faceops.records.store import open_store

    store = open_store(args.records)  # first: a --records that cannot be right is the error to report
    card = ModelCard.read(card_path(args.model))
    settings = MonitorSettings(max_rise=args.max_rise, min_faces=args.min_faces)
    summary = summarise_drift(store, card, args.since, settings)
    if args.json:
        print(json.dumps([{**dataclasses.asdict(d), "rise": round(d.rise, 4)} for d in summary.people]))
    else:
        print(f"{summary.recognitions} recognitions since {args.since} in {summary.where}; live model {card.version}")
        print(format_drift(list(summary.people), summary.skipped, settings))
    return DRIFT_EXIT if summary.drifted else 0


def _doctor(args: argparse.Namespace) -> int:
    from faceops.ops.doctor import FAIL, Requirements, as_json, format_table, run_checks

    needs = Requirements(gpu=args.require_gpu, mail=args.require_mail, remote=args.require_remote)
    checks = run_checks(".", args.params, args.to, needs)
    print(json.dumps(as_json(checks), indent=2) if args.json else format_table(checks))
    return 1 if any(check.status == FAIL for check in checks) else 0


def _people(args: argparse.Namespace) -> int:
    from faceops.people.gallery import format_people, list_people

    people = list_people(args.raw, args.manifest, args.model_card, args.per_person)
    print(json.dumps([person.to_dict() for person in people], indent=2) if args.json else format_people(people))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from faceops.service.app import Limits, serve

    logging.getLogger("faceops").setLevel(logging.INFO)  # a service says what it loaded and how it is guarded

    limits = Limits(max_connections=args.max_connections, header_timeout=args.header_timeout)
    serve(
        args.model,
        args.host,
        args.port,
        args.metrics,
        args.workers,
        args.allowed_host,
        args.insecure,
        limits,
        args.raw,
        args.records,
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    """Replace a live model that cannot be read: the one deliberate way past gate v2's fail-closed check."""
    from faceops.core import tools
    from faceops.core.atomic import read_json
    from faceops.model.recogniser import Recogniser
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
    tools.dvc("repro", "--force", "-s", "evaluate", env={REPLACE_UNREADABLE_ENV: "1"})
    gate = read_json(args.gate)
    if not gate.get("promoted"):
        failed = "; ".join(c["name"] for c in gate.get("checks", []) if not c["passed"])
        print(f"candidate REFUSED by the release gate ({failed}); nothing replaced", file=sys.stderr)
        return 1
    print(f"PROMOTED: {args.model} replaced by the candidate; commit dvc.lock to record it")
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
        "commit dvc.lock and metrics/eval.json to keep it, `git push --tags` to share the GTO tags"
    )
    return 0


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return value


def number_in(kind: type, lowest: float | None = None, highest: float | None = None) -> Callable[[str], float]:
    """An argparse type: a whole number (kind int) or a finite number within [lowest, highest]; else exit 2
    with a line naming the value and what is allowed."""
    allowed = {int: "a whole number", float: "a number"}[kind]
    if lowest is not None and highest is not None:
        allowed += f" from {lowest} to {highest}"
    elif lowest is not None:
        allowed += f" of {lowest} or more"
    elif highest is not None:
        allowed += f" of {highest} or less"

    def parse(text: str) -> float:
        try:
            value = kind(text.strip())
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not _within(value, lowest, highest):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give {allowed}")
        return value

    parse.__name__ = f"{kind.__name__} in range"
    return parse


def _within(value: float, lowest: float | None, highest: float | None) -> bool:
    return (lowest is None or value >= lowest) and (highest is None or value <= highest)


def _optional_float(text: str) -> float | None:
    """A number, or nothing for an empty string (a Jenkins parameter left blank)."""
    if not text.strip():
        return None
    return number_in(float, 0, 1)(text)  # a threshold on a metric in [0, 1]


def build_parser() -> argparse.ArgumentParser:
    from faceops.data.capture import CaptureSettings

    parser = argparse.ArgumentParser(prog="faceops", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log counts and shapes as work proceeds")
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("import-folder", help="copy a photo tree (one folder per person) into the data set")
    command.add_argument("source", help="folder with one sub-folder of photos per person")
    command.add_argument("--dest", default=RAW_DIR)
    command.add_argument("--min-images", type=_positive_int, default=1, help="skip people with fewer photos")
    command.add_argument("--max-people", type=_positive_int, help="keep the people with the most photos")
    command.add_argument("--max-images", type=_positive_int, help="copy at most this many photos per person")
    command.set_defaults(handler=_import_folder)

    for name, text in (
        ("capture", "record face photos of one person (webcam, video file or folder)"),
        ("enrol", "capture (or copy from a folder) photos of a person, then dvc add and git commit; --push pushes"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--person", required=True, type=cli_person_name, help="the name to save the photos under")
        command.add_argument(
            "--source", default="0", help="camera index, video file or folder of photos (default: camera 0)"
        )
        command.add_argument("--dest", default=RAW_DIR)
        command.add_argument("--params", default="params.yaml", help="its faces section sets the face detector")
        for option, (kind, option_help) in CAPTURE_OPTIONS.items():
            default = getattr(CaptureSettings(), option)
            command.add_argument(
                f"--{option.replace('_', '-')}",
                type=number_in(*kind),
                default=default,
                help=f"{option_help} (default {default})",
            )
        command.add_argument(
            "--interval",
            type=number_in(float, 0),
            help="seconds between saved photos (default: 1 for a camera, so that poses change; 0 for a video or "
            "folder)",
        )
        command.add_argument("--preview", action="store_true", help="show a window with the boxes (needs a display)")
        command.add_argument("--re-enrol", action="store_true", help="enrol someone forgotten earlier, on purpose")
        if name == "capture":
            command.add_argument("--commit", action="store_true", help="dvc add and git commit the photos afterwards")
        else:
            command.add_argument("--push", action="store_true", help="then dvc push and git push")
        command.set_defaults(handler=_capture if name == "capture" else _enrol)

    command = commands.add_parser(
        "feedback", help="review what service users said about faces: list, accept (into the data set), reject"
    )
    command.add_argument("action", choices=("list", "accept", "reject"))
    command.add_argument("ids", nargs="*", help="feedback ids (faceops feedback list shows them)")
    command.add_argument("--all", action="store_true", help="every waiting item")
    command.add_argument("--commit", action="store_true", help="after accept: dvc add and git commit")
    command.add_argument("--re-enrol", action="store_true", help="accept photos of someone forgotten, on purpose")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.set_defaults(handler=_feedback)

    from faceops.records.drift import MonitorSettings

    command = commands.add_parser(
        "monitor",
        help=f"who is recognised worse than at training (exit {DRIFT_EXIT} when someone drifted)",
        description="Compares each person's recent median distance and unknown share in the service's recognition "
        "log with the live model's baseline on held-out faces, and prints the capture command for who drifted.",
    )
    command.add_argument("--since", default="7d", help="7d, 12h, 30m or a date (default 7d)")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--max-rise", type=_positive_float, default=MonitorSettings.max_rise)
    command.add_argument("--min-faces", type=_positive_int, default=MonitorSettings.min_faces)
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_monitor)

    command = commands.add_parser(
        "forget",
        help="remove a person from the data set, every cache, the DVC remote and the model; writes a receipt",
        description="Prints what it would remove; with --yes removes it, marks the live model so it answers "
        "unknown for them, retrains (dvc repro), searches again and writes receipts/forget-NAME-TIME.json/.txt. "
        "It keeps a journal (.faceops/forget/NAME.json): interrupted, the same command finishes the job.",
    )
    command.add_argument("--person", required=True, type=cli_person_name)
    command.add_argument("--yes", action="store_true", help="do it (without: only print the plan)")
    command.add_argument("--no-remote", action="store_true", help="leave the DVC remote's copies (the receipt says so)")
    command.add_argument("--no-retrain", action="store_true", help="do not run dvc repro afterwards")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--json", action="store_true", help="print the plan or receipt as JSON")
    command.set_defaults(handler=_forget)

    command = commands.add_parser("import-lfw", help="download LFW through scikit-learn (needs a network)")
    command.add_argument("--dest", default=RAW_DIR)
    command.add_argument("--min-images", type=_positive_int, default=20)
    command.add_argument("--max-people", type=_positive_int)
    command.set_defaults(handler=_import_lfw)

    command = commands.add_parser("check-weights", help="download the VGG16 ImageNet weights, or say why not (exit 3)")
    command.set_defaults(handler=_check_weights)

    command = commands.add_parser(
        "doctor",
        help="check that this machine can do the job: OK / WARN / FAIL with advice (exit 1 on any FAIL)",
        description="Checks Python, Keras and its backend, the GPU, both backbones, the DVC remote (a listing), "
        "the report's recipients and SMTP server (the password is never printed) and the git identity.",
    )
    command.add_argument("--params", default="params.yaml")
    command.add_argument("--to", action="append", help="report recipients to check instead of report.recipients")
    command.add_argument("--require-gpu", action="store_true", help="no GPU is a failure, not a warning")
    command.add_argument("--require-mail", action="store_true", help="no recipients or SMTP server is a failure")
    command.add_argument("--require-remote", action="store_true", help="no reachable DVC remote is a failure")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_doctor)

    command = commands.add_parser(
        "promote",
        help="--replace-unreadable: the candidate replaces a live model that cannot be read (floors still apply)",
    )
    command.add_argument(
        "--replace-unreadable",
        action="store_true",
        help="run the evaluate stage allowing a candidate to replace a live model or card that cannot be read",
    )
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--gate", default="reports/gate.json")
    command.set_defaults(handler=_promote)

    command = commands.add_parser(
        "models", help="model versions (GTO): version, date, accuracy, FAR, FRR, people, data version, live"
    )
    command.add_argument("--register", action="store_true", help="register HEAD's live model and make it live")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_models)

    command = commands.add_parser("rollback", help="make an earlier model version live again (from the DVC cache)")
    command.add_argument("version", nargs="?", help="e.g. v0.1.0; default: the version before the live one")
    command.set_defaults(handler=_rollback)

    command = commands.add_parser("predict", help="name the faces in photos")
    command.add_argument("photos", nargs="+")
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_predict)

    command = commands.add_parser(
        "people", help="each person: photos, faces kept, whether the live model knows them, test recall, newest photo"
    )
    command.add_argument("--raw", default=RAW_DIR)
    command.add_argument("--manifest", default="data/faces.csv")
    command.add_argument("--model-card", default="models/model.json")
    command.add_argument("--per-person", default="reports/per_person.csv")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_people)

    command = commands.add_parser(
        "serve",
        help="web service and page: POST /predict, GET /model, GET /",
        description="API keys come from FACEOPS_API_KEYS (role:key,...) or FACEOPS_API_KEYS_FILE, roles predict "
        "and admin; without keys the service binds only to loopback unless --insecure.",
    )
    command.add_argument("--model", default=MODEL_PATH)
    command.add_argument("--metrics", default="metrics/eval.json", help="shown by GET /model when it exists")
    command.add_argument("--raw", default=RAW_DIR, help="where POST /people/NAME/photos keeps enrolled photos")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    command.add_argument("--port", type=number_in(int, 1, 65535), default=8000)
    command.add_argument(
        "--workers", type=_positive_int, help="prediction processes (default: FACEOPS_WORKERS, else one per core)"
    )
    command.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a Host name clients may use (repeat; * for any); default: FACEOPS_ALLOWED_HOSTS (comma-separated), "
        "else localhost, 127.0.0.1, ::1 and --host",
    )
    command.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host without API keys (anyone may use it)"
    )
    command.add_argument(
        "--max-connections", type=_positive_int, default=100, help="open connections at most; beyond: 503"
    )
    command.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=10.0,
        help="seconds a client may take to send its request headers (default 10)",
    )
    command.set_defaults(handler=_serve)

    command = commands.add_parser(
        "retrain",
        help="below the accuracy threshold, try the tweaks in retrain.schedule as DVC experiments",
        description="Exit 0: passed (or already passing); 2: improved but below the threshold; "
        "3: no attempt beat the current model, which stays; 4: interrupted (the workspace as before); 1: an error.",
    )
    command.add_argument("--params", default="params.yaml")
    command.add_argument("--metrics", default="metrics/eval.json", help="the evaluate stage's metrics file")
    command.add_argument("--report", default="reports/retrain.json")
    command.add_argument("--threshold", type=_optional_float, help="override retrain.threshold (empty: keep it)")
    command.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    command.set_defaults(handler=_retrain)

    command = commands.add_parser(
        "report",
        help="write the accuracy report as HTML, and e-mail it with --email",
        description="SMTP settings come from params.yaml's report section (smtp_host, smtp_port, smtp_security, "
        "sender), each overridden by FACEOPS_SMTP_HOST, _PORT, _SECURITY or _FROM when set; the login from "
        "FACEOPS_SMTP_USER and FACEOPS_SMTP_PASSWORD.",
    )
    command.add_argument("--params", default="params.yaml")
    command.add_argument("--out", default="reports/report.html")
    command.add_argument("--email", action="store_true", help="send it over SMTP as well")
    command.add_argument(
        "--to", action="append", help="recipients, comma-separated or repeated; default: report.recipients"
    )
    command.add_argument(
        "--threshold",
        type=_optional_float,
        help="the threshold in force (a build's RETRAIN_THRESHOLD); default retrain.threshold",
    )
    command.add_argument(
        "--result",
        choices=["SUCCESS", "UNSTABLE", "FAILURE", "ABORTED", ""],
        default="",
        help="the CI build's result; FAILURE or ABORTED make the report say FAILED",
    )
    command.add_argument("--stage", default="", help="the stage that failed, named in a FAILED report")
    command.add_argument("--base", default="", help="the commit to compare metrics with (default HEAD)")
    command.add_argument("--records", metavar="PLACE", help="for the drift section: " + RECORDS_HELP)
    command.add_argument("--drift-since", default="7d", help="the drift section's window (default 7d)")
    command.set_defaults(handler=_report)
    for name in WRITERS:
        commands.choices[name].add_argument(
            "--no-wait", action="store_true", help="if another command is changing the project, exit 2 at once"
        )
    return parser


WRITERS = ("capture", "enrol", "feedback", "forget", "import-folder", "import-lfw", "retrain")  # take the lock


def _changes_project(args: argparse.Namespace) -> bool:
    """Whether this command writes to the project (then it holds the project lock); readers never wait."""
    if args.command == "feedback":
        return args.action != "list"
    if args.command in ("forget", "retrain"):
        return getattr(args, "yes", True) and not getattr(args, "dry_run", False)
    return args.command in WRITERS


def _run(args: argparse.Namespace) -> int:
    """The command's handler, under the project lock if it changes the project (see faceops/core/lock.py)."""
    if not _changes_project(args):
        return args.handler(args)
    from faceops.core.lock import project_lock

    name = f"faceops {args.command}" + (f" {args.action}" if args.command == "feedback" else "")
    with project_lock(name, wait=not args.no_wait):
        return args.handler(args)


def main(argv: list[str] | None = None) -> int:
    from faceops.core.lock import BUSY_EXIT, ProjectBusyError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return _run(args)
    except ProjectBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BUSY_EXIT
    except FaceopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
