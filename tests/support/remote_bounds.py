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


def hanging_remote(project, endpoint: str, bucket_path: str = "s3://faces/store") -> dict[str, str]:
    """Make the DVC remote `store` (s3, at `endpoint`) the project's default; the environment a faceops command
    then needs: the S3 credentials and FACEOPS_REMOTE_SECONDS / FACEOPS_TRANSFER_SECONDS set to BOUND."""
    from helpers import ACCESS_KEY, SECRET_KEY, sh, tool_env

    sh("dvc", "remote", "add", "--local", "--default", "store", bucket_path, cwd=project)
    sh("dvc", "remote", "modify", "--local", "store", "endpointurl", endpoint, cwd=project)
    keys = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    return tool_env() | keys | {"FACEOPS_REMOTE_SECONDS": str(BOUND), "FACEOPS_TRANSFER_SECONDS": str(BOUND)}


def running_in(folder) -> list[int]:
    """The processes whose working folder is `folder` (a `dvc push` left behind would be one)."""
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == Path(folder).resolve():
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to look at
                continue
    return found
