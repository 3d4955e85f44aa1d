"""Faults around the service and the report: a slow mail server, record stores that fail or hang."""

import asyncio
import time

import pytest
from aiosmtpd.controller import Controller
from helpers import Inbox, free_port, sh
from support.faults import FaultyFolder, _keeper, _waiting

from faceops.core.errors import FaceopsError
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore, RecordStoreError
from faceops.release.report import SmtpSettings, send_email


class SlowInbox(Inbox):
    """Answers every command after `delay` seconds: each in time for smtplib's per-read timeout."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd hook
        await asyncio.sleep(self.delay)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd hook
        await asyncio.sleep(self.delay)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd hook
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def slow_smtp():
    inbox = SlowInbox(delay=0.8)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _message():
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "report", "ci@example.org", "team@example.org"
    message.set_content("the report")
    return message


def test_report_mail_gives_up_at_its_deadline_saying_why(slow_smtp):
    inbox, port = slow_smtp
    settings = SmtpSettings("127.0.0.1", port, "none", None, None, "ci@example.org", deadline=1.5)
    started = time.monotonic()
    with pytest.raises(FaceopsError) as caught:
        send_email(_message(), settings, timeout=30)  # each answer (0.8 s) is well within the 30 s per read
    assert time.monotonic() - started < 3
    assert str(caught.value) == (
        f"the SMTP server at 127.0.0.1:{port} did not take the report within report.deadline (1.5 s); it was not sent"
    )
    assert not inbox.envelopes


def test_a_slow_server_within_the_deadline_still_gets_the_report(slow_smtp):
    inbox, port = slow_smtp
    send_email(_message(), SmtpSettings("127.0.0.1", port, "none", None, None, "ci@example.org", deadline=30))
    assert len(inbox.envelopes) == 1


# --- write before remove, and record keeping that never stands in the way -----------------------------


def test_keeper_does_not_wait_for_a_store_that_hangs(tmp_path):
    store, now = FaultyFolder(tmp_path, prefix="pending/"), [0.0]
    store.slow = 3.0
    keeper = _keeper(store, now)
    started = time.monotonic()
    reason = asyncio.run(keeper.keep([(b"jpeg", FaceRecord("c0ffee03", time.time(), "A", "A", 0.1, "v"))], []))
    assert time.monotonic() - started < 2
    assert reason == f"the record store {tmp_path} did not answer within 0.5 s"
    keeper.close()


def test_serve_refuses_a_records_file_before_it_starts(tmp_path):
    (tmp_path / "records").write_text("x")
    result = sh("faceops", "serve", "--records", str(tmp_path / "records"), cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: --records {tmp_path / 'records'}: {tmp_path / 'records'} is not a folder; "
        "allowed: a folder records can go in"
    )


def test_feedback_to_a_store_that_hangs_is_a_503_within_the_deadline(tmp_path):
    store, now = FaultyFolder(tmp_path), [0.0]
    face_id = _waiting(store)
    store.slow = 3.0
    keeper = _keeper(store, now)
    started = time.monotonic()
    with pytest.raises(RecordStoreError) as caught:
        call = PendingStore(store).move_to_feedback
        asyncio.run(keeper.bounded(call, face_id, "is", "Ann", FeedbackStore(store)))
    assert time.monotonic() - started < 2
    assert caught.value.status == 503
    assert str(caught.value) == f"the record store {tmp_path} did not answer within 0.5 s"
    keeper.close()
