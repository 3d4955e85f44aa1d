"""Commands that bring photos in: import-folder, import-lfw, capture, enrol; and check-weights."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from faceops.cli.common import number_in, positive_int, project_detector, record_new_data
from faceops.core.errors import FaceopsError, UsageError
from faceops.core.layout import LAYOUT
from faceops.core.names import cli_person_name
from faceops.core.params import PARAMS_FILE

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


def _import_folder(args: argparse.Namespace) -> int:
    from faceops.data.dataset import import_folder

    _refuse_forgotten_folders(args.source, args.dest, args.re_enrol)
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


def _refuse_forgotten_folders(source: str, dest: str, re_enrol: bool) -> None:
    """A folder of someone forgotten (or being forgotten) in the source is refused before anything is copied, as at
    every other door: re-enrolling them takes --re-enrol, and a forget under way must finish first."""
    from faceops.core.names import name_key
    from faceops.people.forgotten import forgotten, unfinished

    if not Path(source).is_dir():
        return  # import_folder says what is wrong with it
    folders = {name_key(entry.name): entry.name for entry in os.scandir(source) if entry.is_dir()}
    being = sorted(folders[key] for key in map(name_key, unfinished(".")) if key in folders)
    if being:
        raise FaceopsError(
            f"{source} holds photos of {', '.join(map(repr, being))}, being forgotten (an unfinished faceops "
            "forget); finish it first; nothing was copied"
        )
    done = sorted(folders[key] for key in map(name_key, forgotten(".", dest)) if key in folders)
    if done and not re_enrol:
        raise FaceopsError(
            f"{source} holds photos of {', '.join(map(repr, done))}, forgotten earlier (see {LAYOUT.receipts}/); "
            "nothing was copied; leave their folders out, or pass --re-enrol to enrol them again on purpose"
        )


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


def _capture(args: argparse.Namespace) -> int:
    from faceops.data.capture import capture
    from faceops.data.gates import CaptureSettings
    from faceops.people.forgotten import refuse_forgotten

    refuse_forgotten(args.person, ".", args.dest, "--re-enrol", args.re_enrol)  # before the camera starts
    settings = CaptureSettings(**{name: getattr(args, name) for name in CAPTURE_OPTIONS}, interval=args.interval)
    summary = capture(
        args.person,
        args.source,
        args.dest,
        settings,
        detector=project_detector(args.params),
        preview=args.preview,
        prompt=lambda text: print(f"-> {text}", file=sys.stderr, flush=True),
    )
    print("\n".join(summary.lines()))
    if not summary.saved and summary.refused:  # every photo refused: the first, and why (exit 2)
        raise UsageError(f"{summary.refused}; no photo of {args.person} was saved (the reasons are above)")
    if not summary.saved:
        raise FaceopsError(f"no photo of {args.person} was saved; see the reasons above")
    steps = [
        ["dvc", "add", args.dest],
        # The folder holds the .dvc file and, where DVC wrote one, its .gitignore; the photos stay ignored.
        ["git", "add", str(Path(args.dest).parent)],
        ["git", "commit", "-m", f"capture: {len(summary.saved)} photos of {args.person}"],
    ]
    record_new_data(steps, args.commit)
    return 0


def _enrol(args: argparse.Namespace) -> int:
    from faceops.core import dvc, tools

    args.commit = True
    if args.push:
        dvc.transfer_seconds()  # a bad FACEOPS_TRANSFER_SECONDS is refused before the camera, not after the commit
    _capture(args)
    if args.push:
        dvc.transfer("push", "--quiet")  # within FACEOPS_TRANSFER_SECONDS
        tools.git("push")
        print("pushed: the on-push Jenkins job retrains with them")
    return 0


def add_import_folder(commands: argparse._SubParsersAction) -> None:
    """`faceops import-folder SOURCE`: copy a photo tree into the data set."""
    command = commands.add_parser("import-folder", help="copy a photo tree (one folder per person) into the data set")
    command.add_argument("source", help="folder with one sub-folder of photos per person")
    command.add_argument("--dest", default=LAYOUT.raw)
    command.add_argument("--min-images", type=positive_int, default=1, help="skip people with fewer photos")
    command.add_argument("--max-people", type=positive_int, help="keep the people with the most photos")
    command.add_argument("--max-images", type=positive_int, help="copy at most this many photos per person")
    command.add_argument("--re-enrol", action="store_true", help="import people forgotten earlier, on purpose")
    command.set_defaults(handler=_import_folder)


def _add_capture_options(command: argparse.ArgumentParser) -> None:
    """The options capture and enrol share, in the order their help lists them."""
    from faceops.data.gates import CaptureSettings

    command.add_argument("--person", required=True, type=cli_person_name, help="the name to save the photos under")
    command.add_argument(
        "--source", default="0", help="camera index, video file or folder of photos (default: camera 0)"
    )
    command.add_argument("--dest", default=LAYOUT.raw)
    command.add_argument("--params", default=PARAMS_FILE, help="its faces section sets the face detector")
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
        help="seconds between saved photos (default: 1 for a camera, so that poses change; 0 for a video or folder)",
    )
    command.add_argument("--preview", action="store_true", help="show a window with the boxes (needs a display)")
    command.add_argument("--re-enrol", action="store_true", help="enrol someone forgotten earlier, on purpose")


def add_capture(commands: argparse._SubParsersAction) -> None:
    """`faceops capture --person NAME`: record face photos; --commit records them in dvc and git."""
    command = commands.add_parser("capture", help="record face photos of one person (webcam, video file or folder)")
    _add_capture_options(command)
    command.add_argument("--commit", action="store_true", help="dvc add and git commit the photos afterwards")
    command.set_defaults(handler=_capture)


def add_enrol(commands: argparse._SubParsersAction) -> None:
    """`faceops enrol --person NAME`: capture, then dvc add and git commit; --push pushes."""
    command = commands.add_parser(
        "enrol",
        help="capture (or copy from a folder) photos of a person, then dvc add and git commit; --push pushes",
    )
    _add_capture_options(command)
    command.add_argument("--push", action="store_true", help="then dvc push and git push")
    command.set_defaults(handler=_enrol)


def add_import_lfw(commands: argparse._SubParsersAction) -> None:
    """`faceops import-lfw`: download LFW into the data set."""
    command = commands.add_parser("import-lfw", help="download LFW through scikit-learn (needs a network)")
    command.add_argument("--dest", default=LAYOUT.raw)
    command.add_argument("--min-images", type=positive_int, default=20)
    command.add_argument("--max-people", type=positive_int)
    command.set_defaults(handler=_import_lfw)


def add_check_weights(commands: argparse._SubParsersAction) -> None:
    """`faceops check-weights`: whether the VGG16 ImageNet weights can be had."""
    command = commands.add_parser("check-weights", help="download the VGG16 ImageNet weights, or say why not (exit 3)")
    command.set_defaults(handler=_check_weights)
