"""The serve command: the web service and its page."""

from __future__ import annotations

import argparse
import logging

from faceops.cli.common import RECORDS_HELP, number_in, positive_float, positive_int
from faceops.core.layout import LAYOUT


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


def add_serve(commands: argparse._SubParsersAction) -> None:
    """`faceops serve`: the web service (POST /predict, GET /model) and its page."""
    command = commands.add_parser(
        "serve",
        help="web service and page: POST /predict, GET /model, GET /",
        description="API keys come from FACEOPS_API_KEYS (role:key,...) or FACEOPS_API_KEYS_FILE, roles predict "
        "and admin; without keys the service binds only to loopback unless --insecure.",
    )
    command.add_argument("--model", default=LAYOUT.model)
    command.add_argument("--metrics", default=LAYOUT.eval_metrics, help="shown by GET /model when it exists")
    command.add_argument("--raw", default=LAYOUT.raw, help="where POST /people/NAME/photos keeps enrolled photos")
    command.add_argument("--records", metavar="PLACE", help=RECORDS_HELP)
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    command.add_argument("--port", type=number_in(int, 1, 65535), default=8000)
    command.add_argument(
        "--workers", type=positive_int, help="prediction processes (default: FACEOPS_WORKERS, else one per core)"
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
        "--max-connections", type=positive_int, default=100, help="open connections at most; beyond: 503"
    )
    command.add_argument(
        "--header-timeout",
        type=positive_float,
        default=10.0,
        help="seconds a client may take to send its request headers (default 10)",
    )
    command.set_defaults(handler=_serve)
