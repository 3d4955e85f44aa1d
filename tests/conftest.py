"""Shared fixtures: the real LFW photos from ../shared. Helpers live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ACCESS_KEY, LFW, SECRET_KEY, free_port
from support.backbones import quarters  # noqa: F401 - fixtures
from support.capture import video  # noqa: F401 - fixtures
from support.dlib import descriptors  # noqa: F401 - fixtures
from support.forget import trained  # noqa: F401 - fixtures
from support.integrations import broker, listener, receiver  # noqa: F401 - fixtures
from support.jenkins import harness_bin, jobs  # noqa: F401 - fixtures
from support.records import stores  # noqa: F401 - fixtures
from support.remote_bounds import silent  # noqa: F401 - fixtures
from support.unknowns import ungated  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def lfw() -> Path:
    if not LFW.is_dir():
        pytest.fail(f"{LFW}: the shared LFW data set is missing; set FACEOPS_LFW to its folder")
    return LFW


@pytest.fixture(scope="session")
def lfw_photo(lfw: Path) -> Path:
    return lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"


@pytest.fixture(scope="session")
def s3():
    """A real S3-protocol server (moto's server mode) on 127.0.0.1, with one bucket, "faces"; its endpoint URL.
    Clients sign with helpers.ACCESS_KEY / SECRET_KEY."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ).create_bucket(Bucket="faces")
    yield endpoint
    server.stop()
