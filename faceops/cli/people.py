"""Commands on the gallery's people: people (who is in it) and forget (remove someone everywhere)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from faceops.cli.common import RECORDS_HELP
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.names import cli_person_name


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
        print(
            f"next: git add {LAYOUT.raw_dvc} dvc.lock {' '.join(receipt.files)} && git commit && dvc push && git push"
        )
    return 0 if receipt.verified else 1


def _people(args: argparse.Namespace) -> int:
    from faceops.people.gallery import format_people, list_people

    people = list_people(args.raw, args.manifest, args.model_card, args.per_person)
    print(json.dumps([person.to_dict() for person in people], indent=2) if args.json else format_people(people))
    return 0


def add_forget(commands: argparse._SubParsersAction) -> None:
    """`faceops forget --person NAME`: print the plan; with --yes remove them everywhere and write a receipt."""
    command = commands.add_parser(
        "forget",
        help="remove a person from the data set, every cache, the DVC remote and the model; writes a receipt",
        description="Prints what it would remove; with --yes removes it, marks the live model so it answers "
        "unknown for them, retrains (dvc repro), searches again and writes receipts/forget-NAME-TIME.json/.txt. "
        f"It keeps a journal ({LAYOUT.forget_journals}/NAME.json): interrupted, the same command finishes the job.",
    )
    command.add_argument("--person", required=True, type=cli_person_name)
    command.add_argument("--yes", action="store_true", help="do it (without: only print the plan)")
    command.add_argument("--no-remote", action="store_true", help="leave the DVC remote's copies (the receipt says so)")
    command.add_argument("--no-retrain", action="store_true", help="do not run dvc repro afterwards")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--json", action="store_true", help="print the plan or receipt as JSON")
    command.set_defaults(handler=_forget)


def add_people(commands: argparse._SubParsersAction) -> None:
    """`faceops people`: each person in the data set and what the live model knows of them."""
    command = commands.add_parser(
        "people", help="each person: photos, faces kept, whether the live model knows them, test recall, newest photo"
    )
    command.add_argument("--raw", default=LAYOUT.raw)
    command.add_argument("--manifest", default=LAYOUT.manifest)
    command.add_argument("--model-card", default=LAYOUT.card)
    command.add_argument("--per-person", default=LAYOUT.per_person)
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_people)
