"""`faceops doctor` on a real project: a real DVC remote folder, a real SMTP server on 127.0.0.1."""

import json
import subprocess

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from helpers import Inbox, free_port, make_project, sh, tool_env


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    return make_project(tmp_path_factory.mktemp("doctor") / "repo", lfw, people=3, images=5)


def _smtp_with_login() -> Controller:
    """A plain SMTP server that wants AUTH LOGIN as me / hunter2-secret; started."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"me" and auth_data.password == b"hunter2-secret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    controller = Controller(
        Inbox(), hostname="127.0.0.1", port=free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    return controller


def test_a_refused_smtp_login_fails_the_doctor_not_the_build(project):
    """The mail server answering is not enough: a wrong password would lose the report at the end of the build."""
    controller = _smtp_with_login()
    try:
        env = _login_env(controller.port, "wrong-password")
        result = _doctor(project, "--to", "team@faceops.test", "--require-mail", **env)
    finally:
        controller.stop()
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("FAIL  smtp")]
    assert f"SMTP login as me at 127.0.0.1:{controller.port} failed: 535" in line
    assert "wrong-password" not in result.stdout + result.stderr


def _login_env(port: int, password: str) -> dict[str, str]:
    """The build's mail settings: the server on 127.0.0.1:port, no TLS, logging in as me."""
    return {
        "FACEOPS_SMTP_HOST": "127.0.0.1",
        "FACEOPS_SMTP_PORT": str(port),
        "FACEOPS_SMTP_SECURITY": "none",
        "FACEOPS_SMTP_USER": "me",
        "FACEOPS_SMTP_PASSWORD": password,
    }


def _doctor(path, *args, **env):
    return subprocess.run(["faceops", "doctor", *args], cwd=path, env=tool_env() | env, capture_output=True, text=True)


def test_healthy_cpu_machine_passes_and_gpu_can_be_required(project, tmp_path):
    sh("dvc", "remote", "add", "--local", "--default", "--force", "store", str(tmp_path / "remote"), cwd=project)
    controller = _smtp_with_login()
    try:
        env = _login_env(controller.port, "hunter2-secret")
        result = _doctor(project, "--to", "team@faceops.test", "--require-mail", "--require-remote", **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 failed" in result.stdout and "WARN  gpu" in result.stdout
        assert "OK    smtp" in result.stdout and "password set): logged in" in result.stdout
        assert "hunter2-secret" not in result.stdout + result.stderr
        gpu = _doctor(project, "--require-gpu", "--json", **env)
        assert gpu.returncode == 1  # this machine has no GPU
        report = json.loads(gpu.stdout)
        checks = {check["name"]: check for check in report["checks"]}
        assert report["ok"] is False and checks["gpu"]["status"] == "FAIL" and checks["gpu"]["advice"]
        assert checks["dvc remote"]["status"] == "OK"
    finally:
        controller.stop()


def test_missing_mail_settings_and_remote_fail_at_the_start(project):
    sh("dvc", "remote", "remove", "--local", "store", cwd=project, check=False)
    result = _doctor(project, "--require-mail", "--require-remote")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL  report recipients") for line in lines)
    assert any(line.startswith("FAIL  smtp") and "report.smtp_host" in line for line in lines)
    assert any(line.startswith("FAIL  dvc remote") and "no default DVC remote" in line for line in lines)


def test_bad_params_are_one_failing_row(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        result = _doctor(project)
        assert result.returncode == 1
        assert "FAIL  params.yaml" in result.stdout and "train.learning_rate is 0" in result.stdout
    finally:
        sh("git", "checkout", "--", "params.yaml", cwd=project)
