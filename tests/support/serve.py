"""Helpers of tests/*/test_serve.py, shared by its tiers."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port, tool_env

SERVERS = {}  # url -> pid of `faceops serve`


PREDICT_KEY = "predict-key-0123456789abcdef"


ADMIN_KEY = "admin-key-0123456789abcdef"


def start_server(
    path: Path, *args: str, env: dict | None = None, log_dir: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """`faceops serve` in `path` on a free port of 127.0.0.1, once /health answers; its output is kept in a file in
    `log_dir` (default: `path`)."""
    port = free_port()
    log_path = (log_dir or path) / f"serve-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed by stop_server
    process = subprocess.Popen(
        ["faceops", "serve", "--port", str(port), *args],
        cwd=path,
        env=env or tool_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log_path = log_path
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            SERVERS[url] = process.pid
            return process, url
        except OSError:  # refused, reset, or (a loaded machine, the app still loading) no answer within 2 s
            if process.poll() is not None:
                pytest.fail(f"faceops serve exited: {process.log_path.read_text()}")
            time.sleep(0.5)
    process.kill()
    pytest.fail("faceops serve did not start within 120 s")


def stop_server(process: subprocess.Popen) -> str:
    process.terminate()
    process.wait(timeout=20)
    return process.log_path.read_text()


def post(
    url: str,
    data: bytes,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    headers: dict | None = None,
    path: str = "/predict",
) -> tuple[int, dict]:
    boundary = "faceopsboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + path,
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _request(url: str, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict | str]:
    request = urllib.request.Request(url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def _browser(playwright):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install chromium")
    return playwright.chromium.launch(
        executable_path=chromium,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )
