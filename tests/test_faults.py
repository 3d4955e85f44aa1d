"""Faults around the service and the report: a slow mail server, record stores that fail or hang."""

import asyncio
import errno
import os
import time

import pytest
from aiosmtpd.controller import Controller
from helpers import Inbox, free_port, sh

from faceops.core.errors import FaceopsError
from faceops.records.feedback import FaceRecord, FeedbackStore, PendingStore, RecordStoreError
from faceops.records.keeping import RecordKeeper, check_usable
from faceops.records.store import FolderStore
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


class FaultyFolder(FolderStore):
    """A real folder store, with a fault INJECTED at its write boundary: `fault` (an errno) makes every put
    under `prefix` fail as a full (ENOSPC) or read-only (EROFS) filesystem would. Mounting a real full
    filesystem needs privileges these tests do not have; the service test uses a real write failure."""

    def __init__(self, root, prefix="feedback/"):
        super().__init__(root)
        self.prefix, self.fault, self.slow = prefix, None, 0.0

    def put(self, key, data):
        time.sleep(self.slow)
        if self.fault and key.startswith(self.prefix):
            raise OSError(self.fault, os.strerror(self.fault), key)
        super().put(key, data)


def _waiting(store, face_id="c0ffee01"):
    record = FaceRecord(face_id, time.time(), "Ann", "Ann", 0.3, "v1")
    PendingStore(store).keep([(b"jpeg bytes", record)])
    return face_id


@pytest.mark.parametrize("fault, status", [(errno.ENOSPC, 507), (errno.EROFS, 503)])
def test_feedback_write_fails_and_the_face_still_waits(tmp_path, fault, status):
    store = FaultyFolder(tmp_path)
    face_id = _waiting(store)
    store.fault = fault
    with pytest.raises(RecordStoreError) as caught:
        PendingStore(store).move_to_feedback(face_id, "is", "Ann", FeedbackStore(store))
    assert caught.value.status == status
    assert str(caught.value) == (
        f"the record store could not keep the verdict on face {face_id} (it still waits; try again): "
        f"{os.strerror(fault)}"
    )
    assert sorted(p.name for p in (tmp_path / ".faceops/pending").iterdir()) == [f"{face_id}.jpg", f"{face_id}.json"]
    assert not FeedbackStore(store).entries()
    store.fault = None  # space again: the same verdict goes through
    PendingStore(store).move_to_feedback(face_id, "is", "Ann", FeedbackStore(store))
    assert [r.person for r in FeedbackStore(store).entries()] == ["Ann"]
    assert not list((tmp_path / ".faceops/pending").iterdir())


def test_half_a_feedback_pair_is_removed_again(tmp_path):
    """The crop went in, the verdict did not (ENOSPC injected on the .json): no orphan crop is left."""
    store = FaultyFolder(tmp_path, prefix="feedback/c0ffee01.json")
    face_id = _waiting(store)
    store.fault = errno.ENOSPC
    with pytest.raises(RecordStoreError):
        PendingStore(store).move_to_feedback(face_id, "not", "Ann", FeedbackStore(store))
    assert not list((tmp_path / ".faceops/feedback").iterdir())


def _keeper(store, now):
    return RecordKeeper(PendingStore(store, prune_every=1e9), store, deadline=0.5, retry_after=5, clock=lambda: now[0])


def test_keeper_answers_without_records_and_recovers_by_itself(tmp_path):
    store, now = FaultyFolder(tmp_path, prefix="pending/"), [100.0]
    keeper = _keeper(store, now)
    record = FaceRecord("c0ffee02", time.time(), "Ann", "Ann", 0.3, "v1")
    store.fault = errno.ENOSPC
    reason = asyncio.run(keeper.keep([(b"jpeg", record)], []))
    assert reason == f"the record store {tmp_path} failed: No space left on device: pending/c0ffee02.jpg"
    assert keeper.health() == {"status": "degraded", "records": reason}
    store.fault = None
    now[0] += 1  # too soon: not tried again
    assert asyncio.run(keeper.keep([(b"jpeg", record)], [])) == reason
    now[0] += 5
    assert asyncio.run(keeper.keep([(b"jpeg", record)], [])) is None and keeper.health() == {}


def test_keeper_does_not_wait_for_a_store_that_hangs(tmp_path):
    store, now = FaultyFolder(tmp_path, prefix="pending/"), [0.0]
    store.slow = 3.0
    keeper = _keeper(store, now)
    started = time.monotonic()
    reason = asyncio.run(keeper.keep([(b"jpeg", FaceRecord("c0ffee03", time.time(), "A", "A", 0.1, "v"))], []))
    assert time.monotonic() - started < 2
    assert reason == f"the record store {tmp_path} did not answer within 0.5 s"
    keeper.close()


@pytest.mark.parametrize("layout", ["file", "logs-file", "pending-file"])
def test_records_that_cannot_hold_records_are_refused_at_start(tmp_path, layout):
    root = tmp_path / "records"
    if layout == "file":
        root.write_text("x")
        bad = root
    else:
        root.mkdir()
        bad = root / ("logs" if layout == "logs-file" else ".faceops/pending")
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_text("x")
    with pytest.raises(FaceopsError) as caught:
        check_usable(FolderStore(root))
    assert str(caught.value) == f"--records {root}: {bad} is not a folder; allowed: a folder records can go in"


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
