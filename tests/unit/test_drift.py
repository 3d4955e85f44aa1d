"""Drift counts only faces named as the person (or confirmed by feedback): strangers answered "unknown" never do."""

import pytest
from support.drift import NOW, _card, _line

from faceops.records.drift import log_recognitions, monitor, summarise_drift
from faceops.records.feedback import FaceRecord, FeedbackStore
from faceops.records.store import FolderStore


def test_strangers_answered_unknown_raise_no_drift():
    card = _card()
    steady = [_line(card, "Ann", "Ann", 0.21, NOW + i) for i in range(12)]
    strangers = [_line(card, "unknown", "Ann", 0.8, NOW + 100 + i) for i in range(40)]  # closest to Ann, not her
    (ann,) = monitor(steady + strangers, card)
    assert ann.faces == 12 and not ann.drifted
    assert ann.median_distance == pytest.approx(0.21) and ann.unknown_share == 0


def test_a_person_who_changed_still_drifts():
    card = _card()
    (ann,) = monitor([_line(card, "Ann", "Ann", 0.45, NOW + i) for i in range(12)], card)
    assert ann.drifted and ann.rise == pytest.approx(0.25)


def test_feedback_confirms_and_denies_faces():
    card = _card()
    named = [_line(card, "Ann", "Ann", 0.21, NOW + i) for i in range(10)]
    unknown = [_line(card, "unknown", "Ann", 0.7, NOW + 100 + i) for i in range(4)]
    wrong = _line(card, "Ann", "Ann", 0.49, NOW + 200)
    verdicts = [
        FaceRecord(f"id{i}", line["time"], "unknown", "Ann", line["distance"], card.version, "is", "Ann")
        for i, line in enumerate(unknown[:2])
    ] + [FaceRecord("idx", wrong["time"], "Ann", "Ann", wrong["distance"], card.version, "not", "Ann")]
    (ann,) = monitor([*named, *unknown, wrong], card, verdicts=verdicts)
    assert ann.faces == 12  # the ten named, the two confirmed; not the two unconfirmed, not the one denied
    assert ann.unknown_share == pytest.approx(2 / 12)


def test_monitor_reads_feedback_from_the_record_store(tmp_path):
    card = _card()
    store = FolderStore(tmp_path / "records")
    log_recognitions(store, [_line(card, "unknown", "Bob", 0.9, NOW + i) for i in range(30)])
    log_recognitions(store, [_line(card, "Bob", "Bob", 0.2, NOW + 50 + i) for i in range(10)])
    confirmed = FaceRecord("abc1", NOW + 5, "unknown", "Bob", 0.9, card.version, "is", "Bob")
    FeedbackStore(store).add(b"jpeg", confirmed)
    summary = summarise_drift(store, card, "2026-01-01")
    (bob,) = summary.people
    assert bob.faces == 11 and not bob.drifted and summary.recognitions == 40
