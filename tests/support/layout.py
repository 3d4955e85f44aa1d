"""Helpers of tests/*/test_layout.py, shared by its tiers."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
