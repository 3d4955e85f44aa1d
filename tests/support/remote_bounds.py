"""Helpers of tests/*/test_remote_bounds.py, shared by its tiers."""

from __future__ import annotations

import socket
import threading

import pytest

BOUND = 3  # seconds, FACEOPS_REMOTE_SECONDS in these tests


@pytest.fixture
def silent():
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; its endpoint URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()
