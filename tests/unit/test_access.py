"""Who may use the service: Host names and API keys (no server needed; tests/e2e/test_serve.py does it over HTTP)."""

import pytest
from support.access import ADMIN, PREDICT

from faceops.core.errors import FaceopsError
from faceops.service.access import (
    AccessGuard,
    default_allowed_hosts,
    host_name,
    is_loopback,
    keys_from_environment,
    parse_keys,
)


@pytest.mark.parametrize(
    "header, name",
    [
        ("localhost:8000", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("Faces.Example", "faces.example"),
    ],
)
def test_host_name_drops_the_port(header, name):
    assert host_name(header) == name


def test_loopback_and_default_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    assert default_allowed_hosts("0.0.0.0", {}) == ["localhost", "127.0.0.1", "::1"]
    assert default_allowed_hosts("192.168.1.20", {})[-1] == "192.168.1.20"
    given = {"FACEOPS_ALLOWED_HOSTS": "faces.example.org, 192.168.1.20"}
    assert default_allowed_hosts("0.0.0.0", given) == ["faces.example.org", "192.168.1.20"]


@pytest.mark.parametrize(
    "text, message",
    [
        (f"{PREDICT}", "FACEOPS_API_KEYS: entry 1 does not start with a role; write role:key with role one of"),
        (f"predict:{PREDICT},owner:{ADMIN}", "FACEOPS_API_KEYS: entry 2 does not start with a role"),
        ("admin:tiny", "FACEOPS_API_KEYS: the admin key of entry 1 has 4 characters; use at least 16"),
    ],
)
def test_bad_keys_are_named_by_position_never_by_value(text, message):
    with pytest.raises(FaceopsError) as error:
        parse_keys(text, "FACEOPS_API_KEYS")
    assert str(error.value).startswith(message)
    assert PREDICT not in str(error.value) and ADMIN not in str(error.value) and "tiny" not in str(error.value)


def test_an_empty_keys_file_is_refused(tmp_path):
    (tmp_path / "keys").write_text("# nothing yet\n")
    with pytest.raises(FaceopsError, match="no keys in it"):
        keys_from_environment({"FACEOPS_API_KEYS_FILE": str(tmp_path / "keys")})


def test_the_guard_decides_by_host_key_and_role():
    guard = AccessGuard(None, ["localhost", "127.0.0.1"], parse_keys(f"predict:{PREDICT},admin:{ADMIN}", "keys"))
    local = {"host": "127.0.0.1:8000"}
    assert guard.refusal("/health", local) is None and guard.refusal("/", local) is None
    assert guard.refusal("/health", {"host": "rebound.example"})[0] == 400
    assert guard.refusal("/predict", local)[0] == 401
    assert guard.refusal("/predict", local | {"authorization": f"Bearer {PREDICT}x"})[0] == 401
    assert guard.refusal("/predict", local | {"authorization": f"bearer {PREDICT}"}) is None
    assert guard.refusal("/predict", local | {"x-api-key": ADMIN}) is None
    assert guard.refusal("/reload", local | {"x-api-key": PREDICT})[0] == 403
    assert guard.refusal("/reload", local | {"x-api-key": ADMIN}) is None
    open_guard = AccessGuard(None, ["*"], [])
    assert open_guard.refusal("/reload", {"host": "anything"}) is None
