"""Commands around the pipeline: repro (dvc repro as one writer), retrain (below the threshold, try tweaks) and
report (HTML, e-mail)."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceops.cli.common import RECORDS_HELP, optional_float
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.params import PARAMS_FILE


def _threshold_override(args: argparse.Namespace) -> dict | None:
    """--threshold replaces retrain.threshold, checked like the file's own value."""
    return {"retrain": {"threshold": args.threshold}} if args.threshold is not None else None


def _repro(args: argparse.Namespace) -> int:
    """`dvc repro ARGS` (under the project lock, which faceops/cli/main.py takes for every writer)."""
    from faceops.core import dvc

    return dvc.run_through("repro", *args.dvc_args)


def _retrain(args: argparse.Namespace) -> int:
    from faceops.core.params import load_params
    from faceops.release.retrain import TriedModels, Workspace, pipeline_up_to_date, plan, retrain, write_report

    params = load_params(args.params, _threshold_override(args)).retrain
    if args.dry_run:
        where = Path(args.params)
        print("\n".join(plan(params, TriedModels(where, pipeline_up_to_date(where.parent)))))
        return 0
    outcome = retrain(params, args.metrics, Workspace("."))
    write_report(args.report, params, outcome)
    baseline = outcome.baseline.get(params.metric)
    for attempt in outcome.attempts:
        score = (
            f"{attempt.verdict}: {attempt.error}"
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


def add_repro(commands: argparse._SubParsersAction) -> None:
    """`faceops repro [DVC REPRO ARGS]`: the pipeline, run as one writer like the other commands that change it."""
    command = commands.add_parser(
        "repro",
        help="run the pipeline (dvc repro, its arguments passed through) holding the project lock",
        description="dvc repro with the arguments given, while holding the project lock (.faceops/lock): it waits "
        "for another command changing the project, or with --no-wait (before dvc's arguments) exits 2 at once. "
        "Its exit status is dvc's.",
    )
    command.add_argument("dvc_args", nargs=argparse.REMAINDER, metavar="DVC_ARGS", help="passed to dvc repro")
    command.set_defaults(handler=_repro)


def add_retrain(commands: argparse._SubParsersAction) -> None:
    """`faceops retrain`: below the threshold, try retrain.schedule's tweaks as DVC experiments."""
    command = commands.add_parser(
        "retrain",
        help="below the accuracy threshold, try the tweaks in retrain.schedule as DVC experiments",
        description="Exit 0: passed (or already passing); 2: improved but below the threshold; "
        "3: no attempt beat the current model, which stays; 4: interrupted (the workspace as before); 1: an error.",
    )
    command.add_argument("--params", default=PARAMS_FILE)
    command.add_argument("--metrics", default=LAYOUT.eval_metrics, help="the evaluate stage's metrics file")
    command.add_argument("--report", default=LAYOUT.retrain_report)
    command.add_argument("--threshold", type=optional_float, help="override retrain.threshold (empty: keep it)")
    command.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    command.set_defaults(handler=_retrain)


def add_report(commands: argparse._SubParsersAction) -> None:
    """`faceops report`: write the accuracy report; --email sends it."""
    command = commands.add_parser(
        "report",
        help="write the accuracy report as HTML, and e-mail it with --email",
        description="SMTP settings come from params.yaml's report section (smtp_host, smtp_port, smtp_security, "
        "sender), each overridden by FACEOPS_SMTP_HOST, _PORT, _SECURITY or _FROM when set; the login from "
        "FACEOPS_SMTP_USER and FACEOPS_SMTP_PASSWORD.",
    )
    command.add_argument("--params", default=PARAMS_FILE)
    command.add_argument("--out", default=LAYOUT.report)
    command.add_argument("--email", action="store_true", help="send it over SMTP as well")
    command.add_argument(
        "--to", action="append", help="recipients, comma-separated or repeated; default: report.recipients"
    )
    command.add_argument(
        "--threshold",
        type=optional_float,
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
