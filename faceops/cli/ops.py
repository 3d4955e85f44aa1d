"""The doctor command: can this machine do the job."""

from __future__ import annotations

import argparse
import json

from faceops.core.params import PARAMS_FILE


def _doctor(args: argparse.Namespace) -> int:
    from faceops.ops.doctor import FAIL, Requirements, as_json, format_table, run_checks

    needs = Requirements(gpu=args.require_gpu, mail=args.require_mail, remote=args.require_remote)
    checks = run_checks(".", args.params, args.to, needs)
    print(json.dumps(as_json(checks), indent=2) if args.json else format_table(checks))
    return 1 if any(check.status == FAIL for check in checks) else 0


def add_doctor(commands: argparse._SubParsersAction) -> None:
    """`faceops doctor`: OK / WARN / FAIL checks of Python, Keras, GPU, backbones, remote, mail and git."""
    command = commands.add_parser(
        "doctor",
        help="check that this machine can do the job: OK / WARN / FAIL with advice (exit 1 on any FAIL)",
        description="Checks Python, Keras and its backend, the GPU, both backbones, the DVC remote (a listing), "
        "the report's recipients and SMTP server (the password is never printed) and the git identity.",
    )
    command.add_argument("--params", default=PARAMS_FILE)
    command.add_argument("--to", action="append", help="report recipients to check instead of report.recipients")
    command.add_argument("--require-gpu", action="store_true", help="no GPU is a failure, not a warning")
    command.add_argument("--require-mail", action="store_true", help="no recipients or SMTP server is a failure")
    command.add_argument("--require-remote", action="store_true", help="no reachable DVC remote is a failure")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(handler=_doctor)
