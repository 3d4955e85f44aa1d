"""Foundations every layer may use: errors, atomic writes, the name type, params, locks, subprocesses."""
