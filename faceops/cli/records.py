"""Commands on what the service keeps: feedback (review users' corrections), monitor (drift) and unknowns (strangers
seen again and again, grouped, to enrol as new people)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from faceops.cli.common import RECORDS_HELP, positive_float, positive_int, project_detector, record_new_data
from faceops.core.errors import FaceopsError, UsageError
from faceops.core.layout import LAYOUT
from faceops.core.names import cli_person_name
from faceops.core.params import PARAMS_FILE

DRIFT_EXIT = 3  # `faceops monitor`: someone drifted (CI marks the build unstable), not an error


def _feedback(args: argparse.Namespace) -> int:
    import datetime as dt

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
            refuse_forgotten(
                person, ".", LAYOUT.raw, "--re-enrol (or faceops feedback reject their ids)", args.re_enrol
            )
    if args.action == "reject":
        store.discard(records)
        print(f"{len(records)} discarded")
        return 0
    saved, refused = store.accept(records, LAYOUT.raw, LAYOUT.negatives, project_detector(PARAMS_FILE))
    corrections = sum(path.parent.parent == Path(LAYOUT.raw) for path in saved)  # not under .negatives
    print(f"{corrections} photos added to {LAYOUT.raw}, {len(saved) - corrections} to {LAYOUT.negatives}")
    for path in saved:
        print(f"  {path}")
    if saved or not refused:
        message = f"feedback: {corrections} corrections, {len(saved) - corrections} rejections"
        steps = [
            ["dvc", "add", LAYOUT.raw],
            ["git", "add", str(Path(LAYOUT.raw).parent)],
            ["git", "commit", "-m", message],
        ]
        record_new_data(steps, args.commit)
    return _refused(refused, "faceops feedback reject ID drops it")


def _refused(refused: list, drop: str) -> int:
    """Each crop the intake gates refused as one `error:` line on stderr (it still waits; `drop` says how to drop
    it); exit 2 if there was one."""
    for exc in refused:
        print(f"error: {exc}; it still waits ({drop})", file=sys.stderr)
    return 2 if refused else 0


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


def _unknowns(args: argparse.Namespace) -> int:
    from faceops.model.card import ModelCard, card_path
    from faceops.model.recogniser import Recogniser
    from faceops.people.forgotten import forgotten
    from faceops.records.store import open_store
    from faceops.records.unknowns import find_groups, unknown_faces, write_sheet

    if args.action == "enrol":
        return _enrol_unknowns(args)
    if args.group is not None or args.person is not None:
        raise UsageError("a group and --person go with enrol: faceops unknowns enrol GROUP --person NAME")
    store = open_store(args.records)  # first: a --records that cannot be right is the error to report
    card = ModelCard.read(card_path(args.model))
    faces = unknown_faces(store, forgotten(".", LAYOUT.raw) | set(card.forgotten))
    if not faces:
        raise FaceopsError(
            f"no face answered unknown waits in {store.where} (a crop waits an hour); send photos to faceops serve"
        )
    grouping = find_groups(faces, Recogniser.load(args.model), store.where, args.min_size)
    write_sheet(grouping, {face.record.id: face.jpeg for face in faces}, LAYOUT.unknowns, LAYOUT.unknowns_groups)
    if args.json:
        print(json.dumps(grouping.to_dict()))
        return 0
    print(f"{len(faces)} faces answered unknown in {store.where}; live model {grouping.model}")
    print("| group | faces | closest known people |\n|---|---|---|")
    for group in grouping.groups:
        closest = ", ".join(f"{name} ({count})" for name, count in group.closest)
        print(f"| {group.number} | {len(group.faces)} | {closest} |")
    print(f"{len(grouping.groups)} groups of at least {args.min_size}; {len(grouping.ungrouped)} faces in none")
    print(f"contact sheet: {LAYOUT.unknowns}; next: faceops unknowns enrol GROUP --person NAME")
    return 0


def _enrol_unknowns(args: argparse.Namespace) -> int:
    """`faceops unknowns enrol GROUP --person NAME`: the group the last listing showed, through the gates of every
    door (the name rules, one spelling per person, no forgotten person re-created by accident)."""
    from faceops.core.names import refuse_second_spelling
    from faceops.model.card import ModelCard, card_path
    from faceops.people.forgotten import forgotten, refuse_forgotten
    from faceops.records.store import open_store
    from faceops.records.unknowns import enrol_group, read_grouping, write_sheet

    if args.group is None or args.person is None:
        raise UsageError("name the group and the person: faceops unknowns enrol GROUP --person NAME")
    store = open_store(args.records)
    grouping = read_grouping(LAYOUT.unknowns_groups)
    group = grouping.group(args.group, LAYOUT.unknowns_groups)
    try:
        card = ModelCard.read(card_path(args.model))
        labels, hidden = list(card.labels), set(card.forgotten)
    except FaceopsError:  # no live model yet: the data set's folders are who there is
        labels, hidden = [], set()
    raw = Path(LAYOUT.raw)
    folders = [path.name for path in raw.iterdir() if path.is_dir()] if raw.is_dir() else []
    refuse_second_spelling(args.person, [*labels, *folders], "--person")
    refuse_forgotten(args.person, ".", raw, "--re-enrol", args.re_enrol)
    hidden |= forgotten(".", raw)
    detector = project_detector(PARAMS_FILE)
    saved, gone, refused = enrol_group(store, group, args.person, raw, LAYOUT.negatives, hidden, detector)
    rest = grouping.without(group.number)
    crops = {}
    for face in (face for other in rest.groups for face in other.faces):
        try:
            crops[face.id] = store.get(f"pending/{face.id}.jpg")
        except FileNotFoundError:
            continue
    write_sheet(rest, crops, LAYOUT.unknowns, LAYOUT.unknowns_groups)
    print(f"{len(saved)} photos of {args.person} added to {raw / args.person} from group {group.number}")
    if gone:
        print(f"{gone} of its faces no longer waited (expired, or given feedback meanwhile)")
    if saved:
        message = f"unknowns: {len(saved)} photos of {args.person}"
        steps = [["dvc", "add", LAYOUT.raw], ["git", "add", str(raw.parent)], ["git", "commit", "-m", message]]
        record_new_data(steps, args.commit)
    return _refused(refused, "faceops feedback list shows it, faceops feedback reject ID drops it")


def add_feedback(commands: argparse._SubParsersAction) -> None:
    """`faceops feedback list|accept|reject`: review what service users said about faces."""
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


def add_monitor(commands: argparse._SubParsersAction) -> None:
    """`faceops monitor`: who is recognised worse than at training."""
    from faceops.records.drift import MonitorSettings

    command = commands.add_parser(
        "monitor",
        help=f"who is recognised worse than at training (exit {DRIFT_EXIT} when someone drifted)",
        description="Compares each person's recent median distance and unknown share in the service's recognition "
        "log with the live model's baseline on held-out faces, and prints the capture command for who drifted.",
    )
    command.add_argument("--since", default="7d", help="7d, 12h, 30m or a date (default 7d)")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--max-rise", type=positive_float, default=MonitorSettings.max_rise)
    command.add_argument("--min-faces", type=positive_int, default=MonitorSettings.min_faces)
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_monitor)


def add_unknowns(commands: argparse._SubParsersAction) -> None:
    """`faceops unknowns [enrol GROUP --person NAME]`: strangers the service saw, in groups; a group enrolled."""
    from faceops.records.unknowns import MIN_GROUP

    command = commands.add_parser(
        "unknowns",
        help="group the faces the service answered unknown (a contact sheet); enrol GROUP --person NAME",
        description=f"Groups the waiting faces the service answered unknown by likeness (HDBSCAN on the live model's "
        f"features) and writes {LAYOUT.unknowns}; `enrol GROUP --person NAME` makes a group's faces photos of NAME "
        f"in {LAYOUT.raw}.",
    )
    command.add_argument("action", nargs="?", choices=("list", "enrol"), default="list")
    command.add_argument("group", nargs="?", type=positive_int, help="with enrol: the group's number")
    command.add_argument("--person", type=cli_person_name, help="with enrol: who the group is")
    command.add_argument(
        "--min-size", type=positive_int, default=MIN_GROUP, help=f"faces in a group (default {MIN_GROUP})"
    )
    command.add_argument("--commit", action="store_true", help="after enrol: dvc add and git commit")
    command.add_argument("--re-enrol", action="store_true", help="enrol someone forgotten earlier, on purpose")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_unknowns)
