"""Helpers of tests/*/test_lock.py, shared by its tiers: a process that holds the project lock."""

import subprocess
import sys

from helpers import tool_env

HOLD = """
import sys, time
from faceops.core.lock import project_lock
with project_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(path, command="faceops retrain", seconds=60):
    """A second process that holds the project lock of `path` until it is killed (or `seconds` pass)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, command, str(seconds)], cwd=path, env=tool_env(), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process
