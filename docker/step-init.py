#!/usr/bin/env python3
"""PID 1 of a build container (docker/run-train.sh): runs one CI step, and ends only when all of it has ended.

On a Jenkins abort, `docker run` passes the SIGTERM it receives to the container's PID 1 (--sig-proxy, on by
default). A shell as PID 1 would not even see it (the kernel drops signals PID 1 has no handler for); tini
(`docker run --init`) ends the container as soon as its child, the step's shell, dies of the signal, and the
container's end kills `faceops retrain` while it puts params.yaml back. This passes SIGTERM and SIGINT to the
step's whole process group, then waits (up to FACEOPS_STEP_GRACE seconds, 120 by default) until no process of
that group is left, reaping orphans as PID 1 must, and exits with the step's status (128 + N for signal N).
Standard library only: it runs with the image's Python before anything else is imported.
"""

import os
import signal
import subprocess
import sys
import time


def reap() -> None:
    """Collect exited orphans (as PID 1 every orphan of the container becomes ours)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: step-init.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv, start_new_session=True)  # its own process group: pgid == child.pid

    def forward(signum: int, _frame: object) -> None:
        print(f"step-init: {signal.Signals(signum).name}: passed to the step's processes", file=sys.stderr)
        if group_alive(child.pid):
            os.killpg(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    status = child.wait()
    deadline = time.monotonic() + float(os.environ.get("FACEOPS_STEP_GRACE", "120"))
    while group_alive(child.pid) and time.monotonic() < deadline:
        reap()
        time.sleep(0.2)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
