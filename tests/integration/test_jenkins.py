"""Jenkins jobs, Jenkinsfile and Dockerfiles: linted, and the Jenkinsfile's shell steps run for real.

No Jenkins server or Docker engine exists here: the jobs are checked as generated XML, the Jenkinsfile
with npm-groovy-lint, the Dockerfiles with hadolint, and the Jenkinsfile's `sh` steps run in order in a
clone under the docker agent's conditions: as a non-root user, with HOME=/, the volumes mapped, and only
the variables the Jenkinsfile passes. Jenkins-only steps (checkout scm, the docker agent itself, lock,
the mail step, unstable()) are the boundary that is emulated, not run.
"""

import re
import shutil
import subprocess

import pytest
import yaml
from helpers import REPO, sh, tool_env
from support.jenkins import _CREATED, _tool, container_steps

JOB_PARAMETERS = ["RETRAIN_THRESHOLD", "FORCE_REPRO", "REPORT_TO", "REQUIRE_GPU", "DVC_REMOTE_ENDPOINT_URL"]


def test_jobs_generate(jobs):
    assert sorted(jobs) == ["faceops-nightly", "faceops-on-push", "faceops-retrain"]
    for root in jobs.values():
        assert root.tag == "flow-definition"
        assert root.findtext("definition/scriptPath") == "Jenkinsfile"
        assert root.findtext("definition/lightweight") == "false"
        names = [
            p.findtext("name")
            for p in root.find("properties/hudson.model.ParametersDefinitionProperty/parameterDefinitions")
        ]
        assert names == JOB_PARAMETERS
        scm = root.find("definition/scm")
        assert scm.findtext("branches/hudson.plugins.git.BranchSpec/name") == "*/main"
        assert scm.findtext("extensions/hudson.plugins.git.extensions.impl.CloneOption/shallow") == "false"
        assert scm.find("extensions/hudson.plugins.git.extensions.impl.WipeWorkspace") is None
        assert scm.findtext("extensions/hudson.plugins.git.extensions.impl.UserExclusion/excludedUsers") == "faceops-ci"
        regions = scm.findtext("extensions/hudson.plugins.git.extensions.impl.PathRestriction/includedRegions")
        assert regions.split() == ["dataset/.*", r".*\.dvc", r"params\.yaml", r"dvc\.yaml"]


@pytest.mark.lint
def test_jenkinsfile_lints():
    lint = REPO / ".ci/node/node_modules/.bin/npm-groovy-lint"
    if not lint.exists():
        pytest.fail(f"{lint} missing: run `make lint-tools` (needs Node.js and npm)")
    result = subprocess.run(
        [str(lint), "--failon", "error", "--noserver", "Jenkinsfile"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'Error'   │ 0" in result.stdout


@pytest.mark.parametrize(
    "dockerfile",
    [
        "docker/train.Dockerfile",
        "docker/serve.Dockerfile",
        "docker/worker.Dockerfile",
        "docker/jenkins/Dockerfile",
        "docker/jenkins/agent.Dockerfile",
    ],
)
def test_dockerfiles_lint(dockerfile):
    result = subprocess.run([_tool("hadolint"), dockerfile], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    ignored = re.findall(r"hadolint ignore=(\S+)", (REPO / dockerfile).read_text())
    for rule in ignored:  # every ignored rule is justified in a comment naming it
        assert re.search(rf"#\s*{rule}:", (REPO / dockerfile).read_text()), (
            f"{dockerfile}: {rule} ignored without a reason"
        )


# ---- The Jenkinsfile, read as the Docker Pipeline plugin runs it ----


def test_a_steps_own_exit_status_reaches_the_jenkinsfile(tmp_path):
    """make exits 2 for any failing recipe; the retrain and monitor steps hand on faceops' own status (2 below the
    threshold, 3 drifted, 4 interrupted), which the Jenkinsfile turns into unstable or an error."""
    import stat

    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin/faceops"  # stands in for faceops: exits with the status it is told to
    fake.write_text('#!/bin/sh\nexit "$FAKE_EXIT"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "models").mkdir()
    (tmp_path / "models/model.json").write_text("{}")
    steps = [s for s in container_steps((REPO / "Jenkinsfile").read_text()) if s.unstable]
    assert {step.stage for step in steps} == {"Drift", "Retrain if below threshold"}
    for step in steps:
        for status in (0, 1, 2, 3, 4):
            env = tool_env() | {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "FAKE_EXIT": str(status)}
            done = subprocess.run(
                ["sh", "-xe", "-c", step.command], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert done.returncode == status, (step.command, done.stdout, done.stderr)


def test_deployment_files_hold_together():
    plugins = [
        line
        for line in (REPO / "docker/jenkins/plugins.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert plugins and all(re.fullmatch(r"[a-z0-9-]+:[\w.-]+", line) for line in plugins), "every plugin id:version"
    ids = {line.split(":")[0] for line in plugins}
    assert {"lockable-resources", "docker-workflow", "configuration-as-code", "mailer", "ssh-slaves"} <= ids
    assert not ids & {"email-ext", "pipeline-utility-steps"}, "unused plugins are dropped"
    casc = yaml.safe_load((REPO / "docker/jenkins/casc.yaml").read_text())
    assert casc["jenkins"]["numExecutors"] == 0
    assert [n["permanent"]["labelString"] for n in casc["jenkins"]["nodes"]] == ["gpu"]
    assert "password=" not in (REPO / "docker/jenkins/casc.yaml").read_text()  # the seed job writes no secret
    controller = (REPO / "docker/jenkins/Dockerfile").read_text()
    assert "/var/jenkins_home" not in controller.replace("VOLUME", "")  # the volume would hide it
    compose = yaml.safe_load((REPO / "docker/jenkins/compose.yaml").read_text())
    assert "deploy" not in compose["services"]["jenkins"], "the controller reserves no GPU"
    assert "/var/run/docker.sock:/var/run/docker.sock" not in compose["services"]["jenkins"].get("volumes", [])
    assert compose["services"]["agent"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    ignored = sh("git", "check-ignore", "docker/jenkins/.env", "docker/jenkins/secrets/x", cwd=REPO, check=False)
    assert ignored.stdout.split() == ["docker/jenkins/.env", "docker/jenkins/secrets/x"]
    assert "docker-ce-cli" in (REPO / "docker/jenkins/agent.Dockerfile").read_text()


# ---- The harness: the Jenkinsfile's steps under the docker agent's conditions ----


@pytest.fixture(scope="module", autouse=True)
def remove_the_harness_folders():
    """The harness writes only into folders it made in /tmp, and removes them when the module's tests end."""
    yield
    while _CREATED:
        shutil.rmtree(_CREATED.pop(), ignore_errors=True)
