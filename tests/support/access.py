"""Helpers of tests/*/test_access.py, shared by its tiers."""

PREDICT = "p" * 20


ADMIN = "a" * 24
