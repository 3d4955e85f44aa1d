"""The accuracy report: one HTML page (and its plain-text twin) from the pipeline's metrics and plots,
written to disk and, with `--email`, sent over SMTP with the plots inline.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import email.policy
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import yaml

from faceops.core import dvc, tools
from faceops.core.atomic import read_json, write_text
from faceops.core.contracts import MISSING_FILE
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.params import PARAMS_FILE, ReportParams
from faceops.model.metrics import EvaluationMetrics, TrainMetrics
from faceops.records.drift import DriftSummary
from faceops.release.gate import GateVerdict
from faceops.release.retrain import RetrainReport

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
IMAGES = {"confusion": LAYOUT.confusion_plot, "history": LAYOUT.history_plot}


@dataclass(frozen=True)
class ReportInputs:
    """Where the pipeline left what the report shows; paths relative to the project root."""

    metrics: str = LAYOUT.eval_metrics
    train_metrics: str = LAYOUT.train_metrics
    per_person: str = LAYOUT.per_person
    retrain: str = LAYOUT.retrain_report
    gate: str = LAYOUT.gate
    validation: str = LAYOUT.data_validation
    lookalikes: str = LAYOUT.lookalikes
    dataset: str = LAYOUT.raw_dvc
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
    return dvc.metrics_diff(root, base, metrics_path)


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _interval(evaluation: EvaluationMetrics) -> str:
    """' (95% interval a to b on N stranger faces)', when the metrics have one."""
    interval = evaluation.far_interval
    if not interval:
        return ""
    strangers = evaluation.stranger_faces if evaluation.stranger_faces is not None else 0
    return f" (95% interval {_pct(interval[0])} to {_pct(interval[1])} on {strangers} faces)"


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
    root: str | os.PathLike[str], records: str | None, since: str, model: str = LAYOUT.card
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


@dataclass(frozen=True)
class _Found:
    """What the pipeline left for the report, read from the project."""

    evaluation: EvaluationMetrics | None  # None: a failed build without metrics
    train: TrainMetrics | None
    retrain: RetrainReport | None
    gate: GateVerdict | None
    warnings: list[str]  # data validation's warnings, the look-alike pairs, what a failed build left unreadable
    change: dict  # `dvc metrics diff` against the build's base commit
    per_person: list[dict]  # weakest first
    images: dict[str, bytes]  # content id -> PNG
    dataset_hash: str
    commit: str


def _read_inputs(root: Path, metric: str, inputs: ReportInputs, build: BuildInfo) -> _Found:
    """Every input the report shows; a failed build's report goes to `_read_failed_build`."""
    if build.failed:
        return _read_failed_build(root, inputs)
    evaluation = EvaluationMetrics.read(root / inputs.metrics, missing=MISSING_FILE)
    if evaluation.value(metric) is None:
        raise FaceopsError(f"{root / inputs.metrics}: no metric {metric!r}")
    return _Found(
        evaluation,
        TrainMetrics.read(root / inputs.train_metrics, missing=None),
        RetrainReport.read(root / inputs.retrain, missing=None),
        GateVerdict.read(root / inputs.gate, missing=None),
        _warnings(read_json(root / inputs.validation, missing=None), read_json(root / inputs.lookalikes, missing=None)),
        metrics_change(root, inputs.metrics, build.base),
        _per_person(root / inputs.per_person),
        {cid: (root / path).read_bytes() for cid, path in inputs.images.items() if (root / path).exists()},
        _dataset_hash(root / inputs.dataset),
        _commit(root),
    )


def _read_failed_build(root: Path, inputs: ReportInputs) -> _Found:
    """A failed or aborted build's inputs: only what its report shows (the commit, the data set, the data
    warnings), each read so that a file the failure left broken becomes a line of the report, not a report that
    never goes out. Why: this mail is the only word anyone gets of the failure; no metrics, no `dvc metrics diff`
    (DVC may be what failed)."""
    problems: list[str] = []

    def tolerant(path: Path, read: Callable[[Path], Any], fallback: Any) -> Any:
        try:
            return read(path)
        except (FaceopsError, OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
            problems.append(f"{path} could not be read after the failure: {exc}")
            return fallback

    validation = tolerant(root / inputs.validation, lambda path: _warnings(read_json(path, missing=None), None), [])
    lookalikes = tolerant(root / inputs.lookalikes, lambda path: _warnings(None, read_json(path, missing=None)), [])
    dataset_hash = tolerant(root / inputs.dataset, _dataset_hash, "unreadable")
    commit = tolerant(root, _commit, "unreadable")
    warnings = validation + lookalikes + problems
    return _Found(None, None, None, None, warnings, {}, [], {}, dataset_hash, commit)


def _dataset_hash(dvc_file: Path) -> str:
    dataset = yaml.safe_load(dvc_file.read_text()) if dvc_file.exists() else {}
    return ((dataset or {}).get("outs") or [{}])[0].get("md5", "not tracked by DVC")


def _commit(root: Path) -> str:
    return tools.git("rev-parse", "--short", "HEAD", cwd=root, check=False).stdout.strip() or "no commit"


def _per_person(path: Path) -> list[dict]:
    """reports/per_person.csv, weakest F1 first; [] when the evaluate stage has not written it."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return sorted(
            ({**row, **{k: float(row[k]) for k in ("precision", "recall", "f1")}} for row in csv.DictReader(handle)),
            key=lambda row: (row["f1"], row["person"]),
        )


def _verdict(found: _Found, threshold: float, metric: str, build: BuildInfo) -> tuple[bool, str, str]:
    """Whether the build passed, its verdict in one line, and the mail's subject."""
    if build.failed:
        where = f" at stage '{build.stage}'" if build.stage else ""
        verdict = f"FAILED{where}: build {build.result.lower()}; the live model was not changed"
        return False, verdict, f"[faceops] {verdict}"
    score = float(found.evaluation.value(metric))
    passed = score >= threshold
    verdict = (
        f"{'PASSED' if passed else 'BELOW THRESHOLD'}: {metric} {score:.1%} {'>=' if passed else '<'} {threshold:.0%}"
    )
    if build.result == "UNSTABLE":
        verdict += " (build unstable)"
    return passed, verdict, f"[faceops] {verdict} ({_delta(found.change.get(metric))})"


def _training(train: TrainMetrics | None) -> str:
    """Epochs, faces and seconds of the training, '-' for what metrics/train.json does not say."""

    def shown(value: float | None) -> str:
        return "-" if value is None else str(value)

    if train is None:
        return "- epochs, - faces, features - s, head - s"
    return (
        f"{shown(train.epochs_run)} epochs, {shown(train.train_faces)} faces, "
        f"features {shown(train.feature_seconds)} s, head {shown(train.head_seconds)} s"
    )


def _facts(
    found: _Found, threshold: float, metric: str, build: BuildInfo, drift: DriftSummary | str | None
) -> list[tuple[str, str]]:
    """The report's facts, name and value; a failed build's: the build, then the last three."""
    tail = [
        ("threshold", f"{metric} >= {threshold:.0%}"),
        *([("drift", _drift_context(drift)["summary"])] if drift is not None else []),
        ("data set", f"git {found.commit} (compared with {build.base}), DVC {found.dataset_hash}"),
        ("generated", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {socket.gethostname()}"),
    ]
    if build.failed:
        return [("build", f"{build.result} at stage {build.stage or 'unknown'}; see the build log"), *tail[-3:]]
    evaluation, change = found.evaluation, found.change
    macro_f1 = evaluation.macro_f1 if evaluation.macro_f1 is not None else 0
    strangers = evaluation.stranger_faces if evaluation.stranger_faces is not None else 0
    return [
        ("accuracy", f"{_pct(evaluation.accuracy)} ({_delta(change.get('accuracy'))})"),
        ("macro F1", f"{float(macro_f1):.3f} ({_delta(change.get('macro_f1'), percent=False)})"),
        (
            "unknown answers",
            f"{_pct(evaluation.false_reject_rate)} of known faces rejected, "
            f"{_pct(evaluation.false_accept_rate)} of strangers accepted{_interval(evaluation)}",
        ),
        ("test set", f"{evaluation.test_faces} faces of {evaluation.people} people, {strangers} stranger faces"),
        ("model", f"{evaluation.backbone} backbone, {evaluation.weights}"),
        ("training", _training(found.train)),
        *tail,
    ]


def _attempts(retrain: RetrainReport | None, metric: str) -> list[dict]:
    """The retrain attempts as the report lists them."""
    return [
        {
            "name": a.name,
            "applied": retrain.chosen == a.experiment,
            "overrides": ", ".join(f"{k}={v}" for k, v in a.overrides.items()),
            "score": _pct(a.metrics.get(metric)) if a.metrics else "—",
            "verdict": f"{a.verdict}: {a.error}" if a.error else a.verdict,
            "seconds": f"{a.seconds:.0f}",
        }
        for a in (retrain.attempts if retrain is not None else ())
    ]


def _warnings(validation: dict | None, lookalikes: dict | None) -> list[str]:
    """Data validation's failed warning-level checks, then the look-alike pairs."""
    warnings = [
        problem
        for check in (validation or {}).get("checks", [])
        if check["level"] == "warning" and not check["success"]
        for problem in check["problems"]
    ]
    return warnings + [pair["message"] for pair in (lookalikes or {}).get("pairs", [])]


THUMBNAIL = 48  # pixels high: a "what changes" example face


def _gate_context(gate: GateVerdict | None) -> dict | None:
    """The release gate's verdict as the report shows it."""
    if gate is None:
        return None
    checks = [
        {
            "name": c.name,
            "live": _num(c.live),
            "candidate": _num(c.candidate),
            "limit": c.limit,
            "verdict": ("pass" if c.passed else "FAIL") + (f" ({c.note})" if c.note else ""),
        }
        for c in gate.checks
    ]
    return {"promoted": gate.promoted, "checks": checks, "paired": gate.paired.summary() if gate.paired else None}


def _changes_context(root: Path, gate: GateVerdict | None) -> dict | None:
    """What changes between live and candidate on the test faces: the counts in words, and small thumbnails of
    the example faces (data: URIs, so the page and the mail show them alone; a crop gone since is left out)."""
    if gate is None or gate.changes is None:
        return None
    from faceops.records.unknowns import thumbnail

    pictures = []
    for example in gate.changes.examples:
        path = root / example["face"]
        uri = thumbnail(path.read_bytes(), THUMBNAIL) if path.is_file() else ""
        if uri:
            who = example["person"] or "a stranger"
            pictures.append({"uri": uri, "caption": f"{who}: {example['live']} \u2192 {example['candidate']}"})
    return {"faces": gate.changes.faces, "lines": gate.changes.lines(), "thumbnails": pictures}


def _text(context: dict) -> str:
    """The mail's plain-text part: the same sections as the page."""
    lines = [context["verdict"], ""] + [f"{k}: {v}" for k, v in context["facts"]]
    if context["retrain"]:
        lines += ["", f"retraining: {context['retrain']['status']}"]
        lines += [f"  {a['name']}: {a['score']} ({a['verdict']})" for a in context["retrain"]["attempts"]]
    gate = context["gate"]
    if gate:
        promoted = "promoted" if gate["promoted"] else "REFUSED: the live model stays"
        lines += ["", f"release gate: {promoted}"] + [
            f"  {c['name']}: live {c['live']}, candidate {c['candidate']}, needs {c['limit']}: {c['verdict']}"
            for c in gate["checks"]
        ]
        if gate["paired"]:
            lines.append(f"  {gate['paired']}")
    changes = context["changes"]
    if changes:
        lines += ["", f"what changes: {changes['faces']} test faces get another answer"]
        lines += [f"  {line}" for line in changes["lines"]]
    if context["warnings"]:
        lines += ["", "data validation warnings:"] + [f"  {w}" for w in context["warnings"]]
    drift = context["drift"]
    if drift:
        lines += ["", f"drift: {drift['summary']}"] + [
            f"  {r['person']}: {r['faces']} faces, median distance {r['median']} (at training {r['baseline']}), "
            f"unknown {r['unknown']} (at training {r['baseline_unknown']}), drifted {r['drifted']}"
            for r in drift["rows"]
        ]
        lines += [f"  run: {command}" for command in drift["commands"]]
    if context["per_person"]:
        lines += ["", "weakest people (F1):"] + [f"  {r['person']}: {r['f1']:.2f}" for r in context["per_person"][:10]]
    return "\n".join(lines) + "\n"


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
    found = _read_inputs(root, metric, inputs, build)
    passed, verdict, subject = _verdict(found, threshold, metric, build)
    facts = _facts(found, threshold, metric, build, drift)
    retrain = found.retrain  # None for a failed build, as its gate
    context = {
        "verdict": verdict,
        "passed": passed,
        "facts": facts,
        "metric": metric,
        "warnings": found.warnings,
        "retrain": {"status": retrain.status, "attempts": _attempts(retrain, metric)} if retrain else None,
        "per_person": found.per_person,
        "drift": None if build.failed else _drift_context(drift),
        "gate": _gate_context(found.gate),
        "changes": _changes_context(root, found.gate),
    }
    images = found.images
    data_uris = {cid: "data:image/png;base64," + base64.b64encode(png).decode() for cid, png in images.items()}
    return Report(
        subject,
        verdict,
        passed,
        _render(context, data_uris),
        _render(context, {c: f"cid:{c}" for c in images}),
        _text(context),
        images,
    )


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
            raise FaceopsError(f"no SMTP server: set report.smtp_host in {PARAMS_FILE} (or FACEOPS_SMTP_HOST)")
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
