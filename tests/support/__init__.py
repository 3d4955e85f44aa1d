"""Helpers that tests of several tiers share (one copy each)."""
