"""The Jenkins deployment as files: the plugin closure, the agent's entrypoint, the `docker run` of every build
step, compose, the Jenkinsfile's timeouts and the stand-up commands of docs/jenkins.md.

No Docker engine or Jenkins server exists here: the entrypoint runs on a copy of /etc, run-train.sh against a
stand-in `docker` that records its arguments (the boundary), and the stand-up's commands that need no Docker run for
real in a copy of docker/jenkins; the `docker ...` ones are checked against the files they name.
"""

import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from support.deploy import JENKINS, standup_commands

# ---- plugins: the whole closure pinned, checked against what each plugin declares ----


# ---- the agent: the Docker socket's group, its key from a file, nothing else ----


@pytest.mark.skipif(os.getuid() != 0, reason="groupadd/usermod need root, even on a copy of /etc")
@pytest.mark.parametrize("existing", [False, True])
def test_agent_entrypoint_joins_the_sockets_group(tmp_path, existing):
    """Builds run in an SSH login session, whose groups come from /etc/group: the entrypoint writes the
    socket's GID there, whatever it is on this host, under a new name or the one that GID already has."""
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ["passwd", "group", "shadow", "gshadow"]:
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), etc / name)
    subprocess.run(["useradd", "--prefix", str(tmp_path), "--no-create-home", "jenkins"], check=True)
    if existing:
        subprocess.run(["groupadd", "--prefix", str(tmp_path), "--gid", "4242", "hostdocker"], check=True)
    socket = tmp_path / "docker.sock"
    socket.touch()
    os.chown(socket, 0, 4242)
    (tmp_path / "key.pub").write_text("ssh-ed25519 AAAAtest jenkins-agent\n")
    env = {
        "PATH": os.environ["PATH"],
        "AGENT_ROOT": str(tmp_path),
        "DOCKER_SOCKET": str(socket),
        "AGENT_SSH_PUBKEY_FILE": str(tmp_path / "key.pub"),
        "AGENT_EXEC": "env",  # stands in for setup-sshd: shows what it would be given
    }
    done = subprocess.run([str(JENKINS / "agent-entrypoint.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    group = "hostdocker" if existing else "docker-host"
    assert f"agent: jenkins joins group {group} (gid 4242" in done.stdout
    [line] = [entry for entry in (etc / "group").read_text().splitlines() if entry.split(":")[2] == "4242"]
    assert line.startswith(f"{group}:") and line.split(":")[3] == "jenkins"
    assert "JENKINS_AGENT_SSH_PUBKEY=ssh-ed25519 AAAAtest jenkins-agent" in done.stdout


# ---- every build step: one `docker run`, its arguments spelled out ----

SECRET = "s3cr3t-value-9f2"


def _run_train(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, list]:
    """docker/run-train.sh with a stand-in docker that records its arguments, one per line."""
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\n[ "$1" = container ] && exit 1\nprintf "%s\\n" "$@" > "$RECORD"\n')
    fake.chmod(0o755)
    workspace = tmp_path / "agent/workspace/faceops-on-push"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "docker").mkdir(exist_ok=True)
    shutil.copy(REPO / "docker/run-train.sh", workspace / "docker/run-train.sh")
    base = {
        "PATH": "/usr/bin:/bin",
        "DOCKER": str(fake),
        "RECORD": str(tmp_path / "args"),
        "FACEOPS_AGENT_ROOT": str(tmp_path / "agent"),
        "BUILD_TAG": "jenkins-faceops-on-push-7",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "REPORT_TO": "team@faceops.test",
        "NOT_PASSED": "agent-only",
    }
    done = subprocess.run(
        ["sh", "-xe", "-c", "docker/run-train.sh " + " ".join(map(shlex.quote, args))],
        cwd=workspace,
        env=base | (env or {}),
        capture_output=True,
        text=True,
    )
    record = tmp_path / "args"
    return done, record.read_text().splitlines() if record.exists() else []


def test_run_train_docker_run_arguments(tmp_path):
    """The exact `docker run` of a build step: the agent's work volume by name, the two faceops volumes, the
    GPUs, the agent's uid, variables by name only; no --volumes-from, no Docker socket, nothing privileged."""
    done, args = _run_train(tmp_path, "make", "ci-test")
    assert done.returncode == 0, done.stderr
    workspace = tmp_path / "agent/workspace/faceops-on-push"
    assert args == [
        "run",
        "--rm",
        "--name",
        "faceops-step-jenkins-faceops-on-push-7",
        "--gpus",
        "all",
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "--mount",
        f"type=volume,src=faceops-agent-work,dst={tmp_path / 'agent'}",
        "--workdir",
        str(workspace),
        "--mount",
        "type=volume,src=faceops-cache,dst=/var/cache/faceops",
        "--mount",
        "type=volume,src=faceops-lfw,dst=/data/lfw-people-20,readonly",
        "--env",
        "REPORT_TO",
        "--env",
        "AWS_SECRET_ACCESS_KEY",
        "--env",
        "BUILD_TAG",
        "faceops-train:ci",
        "step-init",
        "sh",
        "-xe",
        "-c",
        "make ci-test",
    ]
    assert SECRET not in done.stderr + done.stdout and "NOT_PASSED" not in args
    assert not {"--volumes-from", "--privileged", "-v", "--network"} & set(args)
    assert not any("docker.sock" in arg for arg in args)


def test_run_train_without_gpu_and_outside_the_work_volume(tmp_path):
    _, args = _run_train(tmp_path, "make", "ci-test", env={"REQUIRE_GPU": "false"})
    assert "--gpus" not in args and "REQUIRE_GPU" in args
    done, _ = _run_train(tmp_path, "make", "ci-test", env={"FACEOPS_AGENT_ROOT": "/elsewhere"})
    assert done.returncode == 2
    assert "is not under /elsewhere (the agent's work volume faceops-agent-work)" in done.stderr
    done, args = _run_train(tmp_path, "--build")
    assert args == ["build", "--pull", "--tag", "faceops-train:ci", "--file", "docker/train.Dockerfile", "."]


def test_step_init_passes_sigterm_to_the_whole_step_and_waits_for_it(tmp_path):
    """The step's shell dies of the SIGTERM at once; a process below it that cleans up first (as faceops
    retrain puts params.yaml back) still finishes before step-init, the container's PID 1, exits."""
    cleanup = tmp_path / "cleaned"
    child = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    time.sleep(1.5)\n"
        f"    open({str(cleanup)!r}, 'w').write('done')\n"
        "    sys.exit(4)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(tmp_path / 'started')!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    script = f"{shlex.quote(sys.executable)} -c {shlex.quote(child)}; echo after"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "docker/step-init.py"), "sh", "-xe", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # what `docker run` proxies to PID 1 on an abort
    process.wait(timeout=30)
    assert cleanup.read_text() == "done", "step-init ended before the step's cleanup"
    assert process.returncode == 128 + signal.SIGTERM  # the shell's own death
    assert "SIGTERM: passed to the step's processes" in process.stderr.read()


# ---- the stand-up in docs/jenkins.md: run as written ----


def test_standup_works_as_written(tmp_path):
    """Every command that needs no Docker runs, in order, from the root of a copy of the repository's deployment
    files; the result has every secret compose mounts, readable by uid 1000 in the containers (compose file
    secrets keep the host's owner and mode) and closed to other host users by the folder's mode."""
    commands = standup_commands()
    assert not any(command.startswith("cd ") or " cd " in command for command in commands), "no folder changes"
    (tmp_path / "docker").mkdir()
    shutil.copytree(JENKINS, tmp_path / "docker/jenkins", ignore=shutil.ignore_patterns("secrets", ".env"))
    local = [command for command in commands if not command.startswith("docker ")]
    for command in local:
        done = subprocess.run(["sh", "-ec", command], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    compose = yaml.safe_load((JENKINS / "compose.yaml").read_text())
    secrets = tmp_path / "docker/jenkins/secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name, secret in compose["secrets"].items():
        path = (tmp_path / "docker/jenkins" / secret["file"]).resolve()
        assert path.is_file() and path.stat().st_size > 0, f"the stand-up writes no {secret['file']} ({name})"
        assert stat.S_IMODE(path.stat().st_mode) & 0o004, f"{path.name}: uid 1000 in the container cannot read it"
    assert (tmp_path / "docker/jenkins/.env").read_text() == (JENKINS / "env.example").read_text()


# ---- doctor --require-gpu: a matrix product on each GPU ----


def test_doctor_gpu_check_runs_a_matrix_product(monkeypatch):
    """No GPU here: the device list and the product are the boundary, stood in for; the product's failure (a
    kernel the driver cannot load) fails the check with the driver and CUDA versions and the floor to reach."""
    from faceops.ops import doctor

    assert doctor.gpu_matmul() == []  # the CPU-only backend here has no GPU to run it on
    monkeypatch.setattr(doctor, "gpu_devices", lambda: ["/physical_device:GPU:0"])
    monkeypatch.setattr(doctor, "gpu_versions", lambda: "driver 550.54 (CUDA 12.4)")

    def fails():
        raise RuntimeError(
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION: the provided PTX was compiled with an unsupported toolchain"
        )

    monkeypatch.setattr(doctor, "gpu_matmul", fails)
    check = doctor.check_gpu(required=True)
    assert check.status == doctor.FAIL
    assert "a matrix product failed: CUDA_ERROR_UNSUPPORTED_PTX_VERSION" in check.detail
    assert "driver 550.54 (CUDA 12.4)" in check.detail and "floor in docs/jenkins.md" in check.advice
    monkeypatch.setattr(doctor, "gpu_matmul", lambda: ["/device:GPU:0"])
    check = doctor.check_gpu(required=True)
    assert check.status == doctor.OK
    assert check.detail == "1 seen, a matrix product ran on each (/device:GPU:0); driver 550.54 (CUDA 12.4)"
