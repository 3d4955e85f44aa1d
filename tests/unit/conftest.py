"""The unit tier: no LFW, no DVC repository, no TensorFlow model; a few small checked-in images at most."""

import sys

import pytest


@pytest.fixture
def lfw():
    pytest.fail("a unit test may not use the LFW photos: move it to tests/integration")


def pytest_sessionfinish(session, exitstatus):
    """A unit test that loads TensorFlow (or Keras) belongs in tests/integration: the tier fails."""
    loaded = [name for name in ("tensorflow", "keras") if name in sys.modules]
    if loaded and session.config.args and all("unit" in str(arg) for arg in session.config.args):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nunit tier: {', '.join(loaded)} was imported; the test that needs it belongs in tests/integration")
