"""Who may use the service: Host names and API keys (no server needed; tests/e2e/test_serve.py does it over HTTP)."""

from support.access import ADMIN, PREDICT

from faceops.service.access import (
    keys_from_environment,
)


def test_keys_from_the_variable_and_a_file(tmp_path):
    file = tmp_path / "keys"
    file.write_text(f"# the team's keys\nadmin:{ADMIN}\n")
    keys = keys_from_environment({"FACEOPS_API_KEYS": f"predict:{PREDICT}", "FACEOPS_API_KEYS_FILE": str(file)})
    assert [key.role for key in keys] == ["predict", "admin"]
    assert keys_from_environment({}) == []
