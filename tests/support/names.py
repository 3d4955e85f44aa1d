"""Helpers of tests/*/test_names.py, shared by its tiers."""

NFC_JOSE = "Jos\u00e9"


NFD_JOSE = "Jose\u0301"
