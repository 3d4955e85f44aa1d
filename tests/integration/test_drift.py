"""Drift counts only faces named as the person (or confirmed by feedback): strangers answered "unknown" never do."""

import subprocess

from helpers import tool_env
from support.drift import NOW, _card, _line

from faceops.model.card import card_path
from faceops.records.drift import log_recognitions
from faceops.records.store import FolderStore


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
