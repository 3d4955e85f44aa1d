"""`faceops …`: what people do by hand. The pipeline itself runs with `dvc repro`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from faceops.cli import data, models, ops, people, pipeline, records, service
from faceops.core.errors import FaceopsError, UsageError

COMMANDS = (  # each adds one command; in this order `faceops --help` lists them
    data.add_import_folder,
    data.add_capture,
    data.add_enrol,
    records.add_feedback,
    records.add_monitor,
    records.add_unknowns,
    people.add_forget,
    data.add_import_lfw,
    data.add_check_weights,
    ops.add_doctor,
    models.add_promote,
    models.add_replay,
    models.add_models,
    models.add_rollback,
    models.add_predict,
    people.add_people,
    service.add_serve,
    pipeline.add_repro,
    pipeline.add_retrain,
    pipeline.add_report,
)
# These take the project lock (feedback, forget, models, promote, retrain and unknowns only when they change it:
# _changes_project).
WRITERS = (
    "capture",
    "enrol",
    "feedback",
    "forget",
    "import-folder",
    "import-lfw",
    "models",  # --register: GTO's tags
    "promote",  # --replace-unreadable: models/ and dvc.lock
    "repro",
    "retrain",
    "rollback",  # models/, metrics/eval.json, dvc.lock and GTO's tags
    "unknowns",
)


def build_parser() -> argparse.ArgumentParser:
    """The `faceops` parser: every command group's commands, and --no-wait on those that take the lock."""
    parser = argparse.ArgumentParser(prog="faceops", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log counts and shapes as work proceeds")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands)
    for name in WRITERS:
        commands.choices[name].add_argument(
            "--no-wait", action="store_true", help="if another command is changing the project, exit 2 at once"
        )
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; `repro` hands every word after it but --no-wait to dvc repro, in its order."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "repro":
        words = list(sys.argv[1:] if argv is None else argv)
        words = words[words.index("repro") + 1 :]
        args.dvc_args = [word for word in words if word != "--no-wait"]
        args.no_wait = "--no-wait" in words
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def _changes_project(args: argparse.Namespace) -> bool:
    """Whether this command writes to the project (then it holds the project lock); readers never wait."""
    if args.command == "feedback":
        return args.action != "list"
    if args.command == "unknowns":
        return args.action == "enrol"
    if args.command == "models":
        return args.register
    if args.command == "promote":
        return args.replace_unreadable
    if args.command in ("forget", "retrain"):
        return getattr(args, "yes", True) and not getattr(args, "dry_run", False)
    return args.command in WRITERS


class Terminated(BaseException):
    """SIGTERM arrived while a writer ran (a BaseException, as KeyboardInterrupt: nothing catches it by accident)."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_stops_children() -> Iterator[None]:
    """SIGTERM as an exception for the block. Why: Python's default ends the process at once, so the `dvc repro` or
    `dvc push` a writer started (in a session of its own) ran on after the project lock was released, and a second
    writer got in under it. Raised, it goes through tools.run, which stops the command and what it started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """The command's handler, under the project lock if it changes the project (see faceops/core/lock.py)."""
    if not _changes_project(args):
        return args.handler(args)
    from faceops.core.lock import project_lock

    name = f"faceops {args.command}" + (f" {args.action}" if args.command in ("feedback", "unknowns") else "")
    with _sigterm_stops_children(), project_lock(name, wait=not args.no_wait):
        return args.handler(args)


def main(argv: list[str] | None = None) -> int:
    from faceops.core.lock import BUSY_EXIT, ProjectBusyError

    args = parse(argv)
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
    except Terminated:
        print("terminated (SIGTERM): what it had started was stopped", file=sys.stderr)
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
