"""The accuracy report: one HTML page (and its plain-text twin) from the pipeline's metrics and plots,
written to disk and, with `--email`, sent over SMTP with the plots inline.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import yaml

from faceops.atomic import read_json, write_text
from faceops.errors import FaceopsError

IMAGES = {"confusion": "plots/confusion.png", "history": "plots/train_history.png"}


@dataclass(frozen=True)
class ReportInputs:
    """Where the pipeline left what the report shows; paths relative to the project root."""

    metrics: str = "metrics/eval.json"
    train_metrics: str = "metrics/train.json"
    per_person: str = "reports/per_person.csv"
    retrain: str = "reports/retrain.json"
    validation: str = "reports/data_validation.json"
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


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def metrics_change(root: Path, metrics_path: str) -> dict[str, dict]:
    """`dvc metrics diff HEAD`: how the workspace's metrics differ from the last commit's."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "diff", "HEAD", "--all", "--json", "--targets", metrics_path],
        cwd=root, capture_output=True, text=True,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return {}
    return json.loads(result.stdout).get(metrics_path, {})


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _delta(change: dict | None, percent: bool = True) -> str:
    """'+2.5 points (was 90.0%)' against the last commit, or why there is nothing to compare."""
    if not change or change.get("old") is None:
        return "no previous model to compare"
    if not change.get("diff"):
        return "unchanged from the last commit"
    if percent:
        return f"{float(change['diff']) * 100:+.1f} points; was {_pct(change['old'])}"
    return f"{float(change['diff']):+.3f}; was {float(change['old']):.3f}"


def build_report(root: str | os.PathLike[str], threshold: float, metric: str = "accuracy",
                 inputs: ReportInputs = ReportInputs()) -> Report:
    root = Path(root)
    evaluation = read_json(root / inputs.metrics)
    if metric not in evaluation:
        raise FaceopsError(f"{root / inputs.metrics}: no metric {metric!r}")
    train = read_json(root / inputs.train_metrics, missing=None) or {}
    retrain = read_json(root / inputs.retrain, missing=None)
    validation = read_json(root / inputs.validation, missing=None)
    change = metrics_change(root, inputs.metrics)
    per_person = []
    if (root / inputs.per_person).exists():
        with open(root / inputs.per_person, newline="") as handle:
            per_person = sorted(csv.DictReader(handle), key=lambda row: (float(row["f1"]), row["person"]))
    images = {cid: (root / path).read_bytes() for cid, path in inputs.images.items() if (root / path).exists()}
    dvc_file = root / inputs.dataset
    dataset = yaml.safe_load(dvc_file.read_text()) if dvc_file.exists() else {}
    dataset_hash = (dataset.get("outs") or [{}])[0].get("md5", "not tracked by DVC")

    score = float(evaluation[metric])
    passed = score >= threshold
    verdict = f"{'PASSED' if passed else 'BELOW THRESHOLD'}: {metric} {score:.1%} {'>=' if passed else '<'} {threshold:.0%}"
    subject = f"[faceops] {verdict} ({_delta(change.get(metric))})"
    facts = [
        ("accuracy", f"{_pct(evaluation.get('accuracy'))} ({_delta(change.get('accuracy'))})"),
        ("macro F1", f"{float(evaluation.get('macro_f1', 0)):.3f} ({_delta(change.get('macro_f1'), percent=False)})"),
        ("unknown answers", f"{_pct(evaluation.get('false_reject_rate'))} of known faces rejected, "
                            f"{_pct(evaluation.get('false_accept_rate'))} of strangers accepted"),
        ("test set", f"{evaluation.get('test_faces')} faces of {evaluation.get('people')} people, "
                     f"{evaluation.get('stranger_faces', 0)} stranger faces"),
        ("model", f"{evaluation.get('backbone')} backbone, {evaluation.get('weights')}"),
        ("training", f"{train.get('epochs_run', '-')} epochs, {train.get('train_faces', '-')} faces, "
                     f"features {train.get('feature_seconds', '-')} s, head {train.get('head_seconds', '-')} s"),
        ("data set", f"git {_git(root, 'rev-parse', '--short', 'HEAD') or 'no commit'}, DVC {dataset_hash}"),
        ("generated", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {socket.gethostname()}"),
    ]
    attempts = (retrain or {}).get("attempts", [])
    warnings = [problem for check in (validation or {}).get("checks", []) if check["level"] == "warning" and not check["success"]
                for problem in check["problems"]]

    def page(image_src: dict[str, str]) -> str:
        colour = "#1a7f37" if passed else "#cf222e"
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>faceops report</title><style>",
            "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:960px;margin:24px auto;color:#1f2328;padding:0 16px}",
            "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}",
            "table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2}",
            "th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}",
            ".verdict{color:#fff;padding:12px 16px;border-radius:6px;font-size:20px;font-weight:700}",
            "img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}.muted{color:#656d76}",
            "</style></head><body>",
            f"<div class='verdict' style='background:{colour}'>{html.escape(verdict)}</div>",
            f"<h2>Summary</h2><table>{rows}</table>",
        ]
        if retrain:
            parts.append(f"<h2>Retraining: {html.escape(retrain['status'].replace('_', ' '))}</h2>")
            if attempts:
                parts.append("<table><tr><th>attempt</th><th>overrides</th><th>" + html.escape(metric) +
                             "</th><th>verdict</th><th>seconds</th></tr>")
                for attempt in attempts:
                    value = _pct((attempt.get("metrics") or {}).get(metric)) if attempt.get("metrics") else "crashed"
                    chosen = " (applied)" if retrain.get("chosen") == attempt["experiment"] else ""
                    overrides = ", ".join(f"{k}={v}" for k, v in attempt["overrides"].items())
                    parts.append(f"<tr><td>{html.escape(attempt['name'] + chosen)}</td><td>{html.escape(overrides)}</td>"
                                 f"<td class='num'>{value}</td><td>{html.escape(attempt['verdict'])}</td>"
                                 f"<td class='num'>{attempt['seconds']:.0f}</td></tr>")
                parts.append("</table>")
            else:
                parts.append("<p class='muted'>No attempts: the model already met the threshold.</p>")
        if warnings:
            parts.append("<h2>Data validation warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
        if per_person:
            parts.append("<h2>Per person, weakest first</h2><table><tr><th>person</th><th>precision</th>"
                         "<th>recall</th><th>F1</th><th>test faces</th></tr>")
            for row in per_person:
                parts.append(f"<tr><td>{html.escape(row['person'].replace('_', ' '))}</td>" + "".join(
                    f"<td class='num'>{float(row[k]):.2f}</td>" for k in ("precision", "recall", "f1")
                ) + f"<td class='num'>{row['support']}</td></tr>")
            parts.append("</table>")
        for cid, title in (("confusion", "Confusion matrix"), ("history", "Training history")):
            if cid in image_src:
                parts.append(f"<h2>{title}</h2><img alt='{title}' src='{image_src[cid]}'>")
        parts.append("</body></html>")
        return "\n".join(parts)

    text_lines = [verdict, ""] + [f"{k}: {v}" for k, v in facts]
    if retrain:
        text_lines += ["", f"retraining: {retrain['status']}"] + [
            f"  {a['name']}: {_pct((a.get('metrics') or {}).get(metric)) if a.get('metrics') else 'crashed'} ({a['verdict']})"
            for a in attempts
        ]
    if warnings:
        text_lines += ["", "data validation warnings:"] + [f"  {w}" for w in warnings]
    if per_person:
        text_lines += ["", "weakest people (F1):"] + [f"  {r['person']}: {float(r['f1']):.2f}" for r in per_person[:10]]
    data_uris = {cid: "data:image/png;base64," + base64.b64encode(png).decode() for cid, png in images.items()}
    return Report(subject, verdict, passed, page(data_uris), page({cid: f"cid:{cid}" for cid in images}),
                  "\n".join(text_lines) + "\n", images)


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

    @classmethod
    def from_env(cls, env: dict[str, str] = os.environ) -> SmtpSettings:  # noqa: B006 - read-only default
        security = env.get("FACEOPS_SMTP_SECURITY", "starttls").lower()
        if security not in ("starttls", "ssl", "none"):
            raise FaceopsError(f"FACEOPS_SMTP_SECURITY is {security!r}; use starttls, ssl or none")
        host = env.get("FACEOPS_SMTP_HOST")
        if not host:
            raise FaceopsError("FACEOPS_SMTP_HOST is not set: the SMTP server to send the report through")
        port_text = env.get("FACEOPS_SMTP_PORT", {"ssl": "465", "starttls": "587", "none": "25"}[security])
        if not port_text.isdigit():
            raise FaceopsError(f"FACEOPS_SMTP_PORT is {port_text!r}, not a port number")
        user = env.get("FACEOPS_SMTP_USER") or None
        return cls(host, int(port_text), security, user, env.get("FACEOPS_SMTP_PASSWORD"),
                   env.get("FACEOPS_SMTP_FROM") or user or f"faceops@{socket.gethostname()}")


def compose_email(report: Report, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
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


def send_email(message: EmailMessage, settings: SmtpSettings, timeout: float = 30) -> None:
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except smtplib.SMTPNotSupportedError:
        raise FaceopsError(f"the SMTP server at {where} does not offer STARTTLS; set FACEOPS_SMTP_SECURITY=ssl, "
                           "or none to send unencrypted") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise FaceopsError(f"SMTP login as {settings.user} at {where} failed: {exc.smtp_code} "
                           f"{exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise FaceopsError(f"the SMTP server at {where} refused the recipients {', '.join(exc.recipients)}") from None
    except smtplib.SMTPException as exc:
        raise FaceopsError(f"sending the report through {where} failed: {exc}") from None
    except ssl.SSLError as exc:
        raise FaceopsError(f"TLS with the SMTP server at {where} failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise FaceopsError(f"cannot connect to the SMTP server at {where}: {exc.strerror or exc}") from None
