"""`faceops report`: HTML from real pipeline outputs, mailed to a real SMTP server on 127.0.0.1 (aiosmtpd)."""

import email
import email.policy
import io

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from helpers import Inbox, free_port, make_project, sh, tool_env
from PIL import Image

from faceops.release.report import Report, compose_email


@pytest.fixture
def smtp():
    """A plain SMTP server that wants AUTH LOGIN as reporter / s3cret (no TLS, so no STARTTLS either)."""
    inbox = Inbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"reporter" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    """Pipeline outputs, a later experiment (so the metrics differ from the last commit) and a real retrain run."""
    path = make_project(tmp_path_factory.mktemp("report") / "repo", lfw)
    sh("dvc", "repro", cwd=path)
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["retrain"].update(threshold=0.99, max_attempts=1, schedule=[{"name": "longer", "set": {"train.epochs": 4}}])
    params["report"]["recipients"] = ["team@faceops.test", "me@faceops.test"]
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "first model", cwd=path)
    sh("dvc", "exp", "run", "-S", "train.epochs=3", cwd=path)
    sh("faceops", "retrain", cwd=path, check=False)
    return path


def _report(path, port, *extra, **env):
    environment = tool_env() | {
        "FACEOPS_SMTP_HOST": "127.0.0.1",
        "FACEOPS_SMTP_PORT": str(port),
        "FACEOPS_SMTP_SECURITY": "none",
        "FACEOPS_SMTP_USER": "reporter",
        "FACEOPS_SMTP_PASSWORD": "s3cret",
        **env,
    }
    import subprocess

    return subprocess.run(
        ["faceops", "report", "--email", *extra], cwd=path, env=environment, capture_output=True, text=True
    )


def test_report_is_mailed_with_html_text_and_inline_plots(project, smtp):
    inbox, port = smtp
    result = _report(project, port)
    assert result.returncode == 0, result.stderr
    [envelope] = inbox.envelopes
    assert sorted(envelope.rcpt_tos) == ["me@faceops.test", "team@faceops.test"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    subject = message["Subject"]
    assert subject.startswith("[faceops] BELOW THRESHOLD: accuracy ") and "< 99%" in subject
    assert "points; was" in subject or "unchanged" in subject
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert text.splitlines()[0] == subject.removeprefix("[faceops] ").split(" (")[0]
    assert "retraining: " in text and "weakest people (F1):" in text
    assert "cid:confusion" in html and "cid:history" in html and "Per person, weakest first" in html
    assert "longer" in html  # the retraining attempt
    images = {part["Content-ID"]: part for part in message.walk() if part.get_content_type() == "image/png"}
    assert set(images) == {"<confusion>", "<history>"}
    for part in images.values():
        with Image.open(io.BytesIO(part.get_content())) as picture:
            assert picture.format == "PNG" and picture.width > 300
    written = (project / "reports/report.html").read_text()
    assert "data:image/png;base64," in written and "cid:" not in written


def test_starttls_required_but_not_offered(project, smtp):
    _, port = smtp
    (project / "reports/report.html").unlink(missing_ok=True)
    result = _report(project, port, FACEOPS_SMTP_SECURITY="starttls")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: the SMTP server at 127.0.0.1:{port} does not offer STARTTLS; set FACEOPS_SMTP_SECURITY=ssl, "
        "or none to send unencrypted"
    )
    assert (project / "reports/report.html").exists()  # written before sending


def test_a_server_without_auth_is_named_as_such(project):
    """A user is set but the server offers no AUTH at all (and no STARTTLS): each cause is named as it is."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        result = _report(project, controller.port)
        starttls = _report(project, controller.port, FACEOPS_SMTP_SECURITY="starttls")
        anonymous = _report(project, controller.port, FACEOPS_SMTP_USER="")
    finally:
        controller.stop()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: the SMTP server at 127.0.0.1:{controller.port} does not offer AUTH (login), but FACEOPS_SMTP_USER "
        "is set; unset it to send without logging in, or use the server's submission port"
    )
    assert "does not offer STARTTLS" in starttls.stderr and starttls.returncode == 1
    assert anonymous.returncode == 0, anonymous.stderr
    assert len(inbox.envelopes) == 1


def test_wrong_password(project, smtp):
    inbox, port = smtp
    result = _report(project, port, FACEOPS_SMTP_PASSWORD="guess")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: SMTP login as reporter at 127.0.0.1:{port} failed: 535")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not inbox.envelopes


def test_unreachable_server_and_no_recipients(project):
    result = _report(project, free_port())
    assert result.returncode == 1 and "error: cannot connect to the SMTP server at 127.0.0.1:" in result.stderr
    result = _report(project, 25, "--params", "nothing.yaml")
    assert result.stderr.strip().endswith("nothing.yaml: not found; run from the repository root")
    (project / "quiet.yaml").write_text("retrain: {threshold: 0.9}\n")
    result = _report(project, 25, "--params", "quiet.yaml")
    assert (
        result.stderr.strip()
        == "error: no recipients: pass --to ADDRESS (REPORT_TO in Jenkins) or set report.recipients in params.yaml"
    )
    (project / "quiet.yaml").unlink()


def test_missing_metrics_file(project, tmp_path):
    sh("git", "init", "-q", cwd=tmp_path)
    (tmp_path / "params.yaml").write_text("retrain: {threshold: 0.9}\n")
    result = sh("faceops", "report", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: metrics/eval.json: not found; run `dvc repro` first"


def test_a_failed_build_is_reported_whatever_it_left_broken(smtp, tmp_path):
    """An aborted build can leave the metrics, the data checks and the data set's .dvc file half written, and no
    DVC repository to diff with: the failure mail is the only word anyone gets, so it still goes out, and names
    what it could not read."""
    inbox, port = smtp
    sh("git", "init", "-q", cwd=tmp_path)
    (tmp_path / "params.yaml").write_text("retrain: {threshold: 0.9}\n")
    for path, text in {
        "metrics/eval.json": '{"accuracy": 0.9',
        "reports/data_validation.json": '{"checks": [{"level": "warning"}]}',
        "dataset/raw.dvc": "outs: [md5: {",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    result = _report(tmp_path, port, "--to", "team@faceops.test", "--result", "ABORTED", "--stage", "Retrain")
    assert result.returncode == 0, result.stderr
    [envelope] = inbox.envelopes
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[faceops] FAILED at stage 'Retrain': build aborted; the live model was not changed"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "reports/data_validation.json could not be read after the failure" in text
    assert "dataset/raw.dvc could not be read after the failure" in text


def test_a_long_subject_is_not_folded_before_its_first_word():
    """Python folds some 80-character subjects as 'Subject:\\n [faceops] ...'; clients then show a space."""
    subject = "[faceops] BELOW THRESHOLD: accuracy 33.3% < 99% (+13.3 points; was 20.0%)"
    report = Report(subject, "BELOW THRESHOLD", False, "<p>file</p>", "<p>mail</p>", "text", {})
    raw = compose_email(report, "me@faceops.test", ["you@faceops.test"]).as_bytes()
    assert f"Subject: {subject}\r\n".encode() in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject


def test_the_report_has_a_drift_section(project, smtp, tmp_path):
    """Recognitions of the live model in a record store: one person's distances rose, one held steady."""
    import json
    import time

    inbox, port = smtp
    card = json.loads((project / "models/model.json").read_text())
    version = sh(
        "python",
        "-c",
        "from faceops.model.card import ModelCard; print(ModelCard.read('models/model.json').version)",
        cwd=project,
    ).stdout.strip()
    drifting, steady = card["labels"][0], card["labels"][1]
    baseline = dict(zip(card["labels"], card["open_set"]["median_distance"]))
    lines = []
    for person, rise in ((drifting, 0.3), (steady, 0.0)):
        for _ in range(12):
            distance = baseline[person] + rise
            lines.append({"time": time.time(), "name": person, "label": person, "distance": distance, "model": version})
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/recognitions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert _report(project, port, "--records", str(tmp_path)).returncode == 0
    assert _report(project, port, "--records", "remote://nowhere/x").returncode == 0  # the report goes out anyway
    with_drift, unchecked = (email.message_from_bytes(e.content, policy=email.policy.default) for e in inbox.envelopes)
    text = with_drift.get_body(preferencelist=("plain",)).get_content()
    html = with_drift.get_body(preferencelist=("html",)).get_content()
    assert f"drift: 1 of 2 people drifted (24 recognitions since 7d in {tmp_path})" in text
    assert f"run: faceops capture --person {drifting}" in text and f"--person {steady}" not in text
    assert "<h2>Drift: 1 of 2 people drifted" in html and f"faceops capture --person {drifting}" in html
    other = unchecked.get_body(preferencelist=("plain",)).get_content()
    assert "drift: not checked: --records 'remote://nowhere/x': the DVC remote 'nowhere' cannot be used" in other
