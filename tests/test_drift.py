"""Drift counts only faces named as the person (or confirmed by feedback): strangers answered "unknown" never do."""

import subprocess

import pytest
from helpers import tool_env

from faceops.core.params import FacesParams, TrainParams
from faceops.model.card import ModelCard, OpenSet, card_path
from faceops.records.drift import log_recognitions, monitor, summarise_drift
from faceops.records.feedback import FaceRecord, FeedbackStore
from faceops.records.store import FolderStore

NOW = 1_800_000_000.0


def _card() -> ModelCard:
    return ModelCard(
        labels=("Ann", "Bob"),
        backbone="dlib_resnet",
        weights=None,
        weights_description="dlib ResNet (test card)",
        weights_identity=None,
        feature_key="test",
        image_size=96,
        n_features=2,
        train_faces=40,
        faces=FacesParams(),
        train=TrainParams(),
        open_set=OpenSet(
            threshold=0.5,
            centroids=((1.0, 0.0), (0.0, 1.0)),
            target_far=0.01,
            expected_far=0.01,
            expected_frr=0.05,
            impostor_faces=100,
            median_distance=(0.2, 0.2),
            unknown_share=(0.05, 0.05),
        ),
    )


def _line(card: ModelCard, name: str, label: str, distance: float, at: float = NOW) -> dict:
    return {"time": at, "name": name, "label": label, "distance": distance, "model": card.version}


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


def test_the_monitor_command_with_only_strangers_reports_no_drift(tmp_path):
    card = _card()
    card.write(card_path(tmp_path / "models" / "model.keras"))
    records = tmp_path / "records"
    log_recognitions(FolderStore(records), [_line(card, "unknown", "Ann", 0.9, NOW + i) for i in range(30)])
    result = subprocess.run(
        ["faceops", "monitor", "--records", str(records), "--since", "2026-01-01"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 0 people drifted" in result.stdout
