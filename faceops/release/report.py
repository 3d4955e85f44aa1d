"""The accuracy report: one HTML page (and its plain-text twin) from the pipeline's metrics and plots,
written to disk and, with `--email`, sent over SMTP with the plots inline.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import email.policy
import json
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import yaml

from faceops.core import tools
from faceops.core.atomic import read_json, write_text
from faceops.core.errors import FaceopsError
from faceops.core.params import ReportParams
from faceops.records.drift import DriftSummary

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
IMAGES = {"confusion": "plots/confusion.png", "history": "plots/train_history.png"}


@dataclass(frozen=True)
class ReportInputs:
    """Where the pipeline left what the report shows; paths relative to the project root."""

    metrics: str = "metrics/eval.json"
    train_metrics: str = "metrics/train.json"
    per_person: str = "reports/per_person.csv"
    retrain: str = "reports/retrain.json"
    gate: str = "reports/gate.json"
    validation: str = "reports/data_validation.json"
    lookalikes: str = "reports/lookalikes.json"
    dataset: str = "dataset/raw.dvc"
    images: dict = field(default_factory=lambda: dict(IMAGES))


@dataclass
class Report:
    subject: str
    verdict: str
    passed: bool
    html_for_file: str
    html_for_email: str
    text: str
    images: dict[str, bytes]  # content id -> PNG


def metrics_change(root: Path, metrics_path: str, base: str = "HEAD") -> dict[str, dict]:
    """`dvc metrics diff BASE`: how the workspace's metrics differ from those at the commit `base`.

    A project with no commit yet (or a base that does not exist) has nothing to compare: {}.
    """
    if tools.git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", cwd=root, check=False).returncode != 0:
        return {}
    result = tools.dvc("metrics", "diff", base, "--all", "--json", "--targets", metrics_path, cwd=root)
    return json.loads(result.stdout or "{}").get(metrics_path, {})


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _interval(evaluation: dict) -> str:
    """' (95% interval a to b on N stranger faces)', when the metrics have one."""
    interval = evaluation.get("far_interval")
    if not interval:
        return ""
    return f" (95% interval {_pct(interval[0])} to {_pct(interval[1])} on {evaluation.get('stranger_faces', 0)} faces)"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _delta(change: dict | None, percent: bool = True) -> str:
    """'+2.5 points (was 90.0%)' against the base commit, or why there is nothing to compare."""
    if not change or change.get("old") is None:
        return "no previous model to compare"
    if not change.get("diff"):
        return "unchanged from the base commit"
    if percent:
        return f"{float(change['diff']) * 100:+.1f} points; was {_pct(change['old'])}"
    return f"{float(change['diff']):+.3f}; was {float(change['old']):.3f}"


@dataclass(frozen=True)
class BuildInfo:
    """What a CI build knows that the files do not: its result, the stage that failed, its base commit."""

    result: str | None = None  # Jenkins' currentResult: SUCCESS, UNSTABLE, FAILURE, ABORTED
    stage: str | None = None  # the stage that was running when it failed
    base: str = "HEAD"  # the commit the build started from; metrics are compared with it

    @property
    def failed(self) -> bool:
        return self.result in ("FAILURE", "ABORTED")


def check_drift(
    root: str | os.PathLike[str], records: str | None, since: str, model: str = "models/model.json"
) -> DriftSummary | str:
    """The live model's drift for the report, or why it could not be checked (the report goes out anyway)."""
    from faceops.model.card import ModelCard
    from faceops.records.drift import summarise_drift
    from faceops.records.store import open_store

    if not (Path(root) / model).exists():
        return "not checked: no live model yet"
    try:
        return summarise_drift(open_store(records, root), ModelCard.read(Path(root) / model), since)
    except FaceopsError as exc:
        return f"not checked: {exc}"
    except Exception as exc:  # a bucket that does not answer raises its client's own types
        return f"not checked: the record store did not answer ({type(exc).__name__}: {str(exc)[:200]})"


def _drift_context(drift: DriftSummary | str | None) -> dict | None:
    if drift is None:
        return None
    if isinstance(drift, str):
        return {"summary": drift, "rows": [], "commands": []}
    flagged = drift.drifted
    summary = (
        f"{len(flagged)} of {len(drift.people)} people drifted"
        if drift.people
        else "no recognitions by the live model to compare"
    )
    summary += f" ({drift.recognitions} recognitions since {drift.since} in {drift.where})"
    rows = [
        {
            "person": d.person,
            "faces": d.faces,
            "median": f"{d.median_distance:.3f}",
            "baseline": f"{d.baseline_distance:.3f}",
            "unknown": f"{d.unknown_share:.0%}",
            "baseline_unknown": f"{d.baseline_unknown_share:.0%}",
            "drifted": "YES" if d.drifted else "no",
        }
        for d in sorted(drift.people, key=lambda d: (not d.drifted, -d.rise))
    ]
    return {"summary": summary, "rows": rows, "commands": [f"faceops capture --person {d.person}" for d in flagged]}


def build_report(
    root: str | os.PathLike[str],
    threshold: float,
    metric: str = "accuracy",
    inputs: ReportInputs = ReportInputs(),
    build: BuildInfo = BuildInfo(),
    drift: DriftSummary | str | None = None,
) -> Report:
    """The report; `drift` (from `check_drift`) adds the live model's drift section."""
    root = Path(root)
    evaluation = read_json(root / inputs.metrics, missing=None if build.failed else "not found; run `dvc repro` first")
    evaluation = evaluation or {}
    if not build.failed and metric not in evaluation:
        raise FaceopsError(f"{root / inputs.metrics}: no metric {metric!r}")
    train = read_json(root / inputs.train_metrics, missing=None) or {}
    retrain = read_json(root / inputs.retrain, missing=None)
    gate = read_json(root / inputs.gate, missing=None)
    validation = read_json(root / inputs.validation, missing=None)
    change = metrics_change(root, inputs.metrics, build.base) if evaluation else {}
    per_person = []
    if (root / inputs.per_person).exists() and not build.failed:
        with open(root / inputs.per_person, newline="") as handle:
            per_person = sorted(
                (
                    {**row, **{k: float(row[k]) for k in ("precision", "recall", "f1")}}
                    for row in csv.DictReader(handle)
                ),
                key=lambda row: (row["f1"], row["person"]),
            )
    images = (
        {}
        if build.failed
        else {cid: (root / path).read_bytes() for cid, path in inputs.images.items() if (root / path).exists()}
    )
    dvc_file = root / inputs.dataset
    dataset = yaml.safe_load(dvc_file.read_text()) if dvc_file.exists() else {}
    dataset_hash = (dataset.get("outs") or [{}])[0].get("md5", "not tracked by DVC")
    commit = tools.git("rev-parse", "--short", "HEAD", cwd=root, check=False).stdout.strip() or "no commit"

    if build.failed:
        passed = False
        where = f" at stage '{build.stage}'" if build.stage else ""
        verdict = f"FAILED{where}: build {build.result.lower()}; the live model was not changed"
        subject = f"[faceops] {verdict}"
    else:
        score = float(evaluation[metric])
        passed = score >= threshold
        verdict = (
            f"{'PASSED' if passed else 'BELOW THRESHOLD'}: {metric} {score:.1%} "
            f"{'>=' if passed else '<'} {threshold:.0%}"
        )
        if build.result == "UNSTABLE":
            verdict += " (build unstable)"
        subject = f"[faceops] {verdict} ({_delta(change.get(metric))})"
    facts = [
        ("accuracy", f"{_pct(evaluation.get('accuracy'))} ({_delta(change.get('accuracy'))})"),
        ("macro F1", f"{float(evaluation.get('macro_f1', 0)):.3f} ({_delta(change.get('macro_f1'), percent=False)})"),
        (
            "unknown answers",
            f"{_pct(evaluation.get('false_reject_rate'))} of known faces rejected, "
            f"{_pct(evaluation.get('false_accept_rate'))} of strangers accepted{_interval(evaluation)}",
        ),
        (
            "test set",
            f"{evaluation.get('test_faces')} faces of {evaluation.get('people')} people, "
            f"{evaluation.get('stranger_faces', 0)} stranger faces",
        ),
        ("model", f"{evaluation.get('backbone')} backbone, {evaluation.get('weights')}"),
        (
            "training",
            f"{train.get('epochs_run', '-')} epochs, {train.get('train_faces', '-')} faces, "
            f"features {train.get('feature_seconds', '-')} s, head {train.get('head_seconds', '-')} s",
        ),
        ("threshold", f"{metric} >= {threshold:.0%}"),
        *([("drift", _drift_context(drift)["summary"])] if drift is not None else []),
        ("data set", f"git {commit} (compared with {build.base}), DVC {dataset_hash}"),
        ("generated", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {socket.gethostname()}"),
    ]
    if build.failed:
        facts = [("build", f"{build.result} at stage {build.stage or 'unknown'}; see the build log"), *facts[-3:]]
        retrain = None
        drift = None
    attempts = [
        {
            "name": a["name"],
            "applied": (retrain or {}).get("chosen") == a["experiment"],
            "overrides": ", ".join(f"{k}={v}" for k, v in a["overrides"].items()),
            "score": _pct((a.get("metrics") or {}).get(metric)) if a.get("metrics") else "crashed",
            "verdict": a["verdict"],
            "seconds": f"{a['seconds']:.0f}",
        }
        for a in (retrain or {}).get("attempts", [])
    ]
    warnings = [
        problem
        for check in (validation or {}).get("checks", [])
        if check["level"] == "warning" and not check["success"]
        for problem in check["problems"]
    ]
    warnings += [pair["message"] for pair in (read_json(root / inputs.lookalikes, missing=None) or {}).get("pairs", [])]
    context = {
        "verdict": verdict,
        "passed": passed,
        "facts": facts,
        "metric": metric,
        "warnings": warnings,
        "retrain": {"status": retrain["status"], "attempts": attempts} if retrain else None,
        "per_person": per_person,
        "drift": _drift_context(drift),
        "gate": None
        if gate is None or build.failed
        else {
            "promoted": gate["promoted"],
            "checks": [
                {
                    "name": c["name"],
                    "live": _num(c["live"]),
                    "candidate": _num(c["candidate"]),
                    "limit": c["limit"],
                    "verdict": ("pass" if c["passed"] else "FAIL") + (f" ({c['note']})" if c.get("note") else ""),
                }
                for c in gate["checks"]
            ],
            "paired": _paired_line(gate),
        },
    }
    text_lines = [verdict, ""] + [f"{k}: {v}" for k, v in facts]
    if retrain:
        text_lines += ["", f"retraining: {retrain['status']}"] + [
            f"  {a['name']}: {a['score']} ({a['verdict']})" for a in attempts
        ]
    if context["gate"]:
        promoted = "promoted" if context["gate"]["promoted"] else "REFUSED: the live model stays"
        text_lines += ["", f"release gate: {promoted}"] + [
            f"  {c['name']}: live {c['live']}, candidate {c['candidate']}, needs {c['limit']}: {c['verdict']}"
            for c in context["gate"]["checks"]
        ]
        if context["gate"]["paired"]:
            text_lines.append(f"  {context['gate']['paired']}")
    if warnings:
        text_lines += ["", "data validation warnings:"] + [f"  {w}" for w in warnings]
    if context["drift"]:
        rows = context["drift"]["rows"]
        text_lines += ["", f"drift: {context['drift']['summary']}"] + [
            f"  {r['person']}: {r['faces']} faces, median distance {r['median']} (at training {r['baseline']}), "
            f"unknown {r['unknown']} (at training {r['baseline_unknown']}), drifted {r['drifted']}"
            for r in rows
        ]
        text_lines += [f"  run: {command}" for command in context["drift"]["commands"]]
    if per_person:
        text_lines += ["", "weakest people (F1):"] + [f"  {r['person']}: {r['f1']:.2f}" for r in per_person[:10]]
    data_uris = {cid: "data:image/png;base64," + base64.b64encode(png).decode() for cid, png in images.items()}
    return Report(
        subject,
        verdict,
        passed,
        _render(context, data_uris),
        _render(context, {c: f"cid:{c}" for c in images}),
        "\n".join(text_lines) + "\n",
        images,
    )


def _paired_line(gate: Mapping) -> str | None:
    """Live and candidate on the same faces (gate v2), in one line."""
    from faceops.release.paired import paired_summary

    return paired_summary(gate)


def _render(context: dict, images: dict[str, str]) -> str:
    """The report page from its Jinja2 template (package data), every value escaped."""
    from faceops.core.pages import render_page

    return render_page("report.html.j2", **context, images=images)


def write_report_html(report: Report, path: str | os.PathLike[str]) -> None:
    write_text(path, report.html_for_file)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # starttls, ssl or none
    user: str | None
    password: str | None
    sender: str
    deadline: float = 180.0  # report.deadline: seconds for the whole exchange

    @classmethod
    def resolve(cls, report: ReportParams, env: Mapping[str, str] = os.environ) -> SmtpSettings:  # noqa: B006
        """params.yaml's report section, each value overridden by its FACEOPS_SMTP_* variable when set.

        The login (FACEOPS_SMTP_USER, FACEOPS_SMTP_PASSWORD) comes from the environment only.
        """
        security = (env.get("FACEOPS_SMTP_SECURITY") or report.smtp_security).lower()
        if security not in ("starttls", "ssl", "none"):
            raise FaceopsError(f"FACEOPS_SMTP_SECURITY is {security!r}; use starttls, ssl or none")
        host = env.get("FACEOPS_SMTP_HOST") or report.smtp_host
        if not host:
            raise FaceopsError("no SMTP server: set report.smtp_host in params.yaml (or FACEOPS_SMTP_HOST)")
        port_text = env.get("FACEOPS_SMTP_PORT") or str(report.smtp_port or DEFAULT_PORTS[security])
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise FaceopsError(f"FACEOPS_SMTP_PORT is {port_text!r}, not a port number (1 to 65535)")
        user = env.get("FACEOPS_SMTP_USER") or None
        sender = env.get("FACEOPS_SMTP_FROM") or report.sender or user or f"faceops@{socket.gethostname()}"
        return cls(host, int(port_text), security, user, env.get("FACEOPS_SMTP_PASSWORD"), sender, report.deadline)


# Python's header folding can break a 79-90 character subject before its first word, which mail
# clients show as a leading space; RFC 5322 allows lines up to 998 characters, so nothing folds.
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)


def compose_email(report: Report, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage(policy=_MAIL_POLICY)
    message["Subject"] = report.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain="faceops")
    message.set_content(report.text)
    message.add_alternative(report.html_for_email, subtype="html")
    html_part = message.get_payload()[1]
    for cid, png in report.images.items():
        html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid}.png")
    return message


def _with_deadline(base: type, ends: float) -> type:
    """`base` (SMTP or SMTP_SSL) whose every read and write gets only what is left until `ends`.

    Why: smtplib's timeout is per socket operation, so a server that answers each command just in time
    held the report step for minutes; this bounds the whole exchange.
    """

    class Client(base):
        def _left(self) -> None:
            left = ends - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline")
            if self.sock is not None:
                self.sock.settimeout(left)

        def send(self, s: Any) -> None:
            self._left()
            super().send(s)

        def getreply(self) -> tuple:
            self._left()
            return super().getreply()

    return Client


def send_email(message: EmailMessage, settings: SmtpSettings, timeout: float = 30) -> None:
    """Send through the SMTP server; every failure (the deadline too) is one line naming the server."""
    with smtp_session(settings, timeout) as client:
        client.send_message(message)


@contextlib.contextmanager
def smtp_session(settings: SmtpSettings, timeout: float = 30) -> Iterator[smtplib.SMTP]:
    """A client connected, encrypted and logged in as `settings` say: what sending needs, and what `faceops doctor`
    checks without sending. Every failure in the block (the deadline too) is one line naming the server."""
    where = f"{settings.host}:{settings.port}"
    ends = time.monotonic() + settings.deadline
    timeout = min(timeout, settings.deadline)
    try:
        if settings.security == "ssl":
            client = _with_deadline(smtplib.SMTP_SSL, ends)(
                settings.host, settings.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = _with_deadline(smtplib.SMTP, ends)(settings.host, settings.port, timeout=timeout)
        with client:
            if settings.security == "starttls":
                client.ehlo_or_helo_if_needed()
                if not client.has_extn("starttls"):
                    raise FaceopsError(
                        f"the SMTP server at {where} does not offer STARTTLS; set FACEOPS_SMTP_SECURITY=ssl, "
                        "or none to send unencrypted"
                    )
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.ehlo_or_helo_if_needed()
                if not client.has_extn("auth"):
                    raise FaceopsError(
                        f"the SMTP server at {where} does not offer AUTH (login), but FACEOPS_SMTP_USER "
                        "is set; unset it to send without logging in, or use the server's "
                        "submission port"
                    )
                client.login(settings.user, settings.password or "")
            yield client
    except smtplib.SMTPAuthenticationError as exc:
        raise FaceopsError(
            f"SMTP login as {settings.user} at {where} failed: {exc.smtp_code} "
            f"{exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise FaceopsError(f"the SMTP server at {where} refused the recipients {', '.join(exc.recipients)}") from None
    except (smtplib.SMTPException, TimeoutError) as exc:  # smtplib reports a read that timed out as a disconnect
        if time.monotonic() >= ends - 0.05:
            raise FaceopsError(
                f"the SMTP server at {where} did not take the report within report.deadline "
                f"({settings.deadline:g} s); it was not sent"
            ) from None
        raise FaceopsError(f"sending the report through {where} failed: {exc or 'timed out'}") from None
    except ssl.SSLError as exc:
        raise FaceopsError(f"TLS with the SMTP server at {where} failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise FaceopsError(f"cannot connect to the SMTP server at {where}: {exc.strerror or exc}") from None
