"""Jenkins jobs, Jenkinsfile and Dockerfiles: linted, and the Jenkinsfile's shell steps run for real.

No Jenkins server or Docker engine exists here: the jobs are checked as generated XML, the Jenkinsfile
with npm-groovy-lint, the Dockerfiles with hadolint, and the Jenkinsfile's `sh` steps run in order in a
clone under the docker agent's conditions: as a non-root user, with HOME=/, the volumes mapped, and only
the variables the Jenkinsfile passes. Jenkins-only steps (checkout scm, the docker agent itself, lock,
the mail step, unstable()) are the boundary that is emulated, not run.
"""

import re
import shutil

import pytest
from helpers import REPO
from support.jenkins import _CREATED, _spans, constraints, container_steps


def test_job_triggers(jobs):
    def triggers(name):
        found = jobs[name].find(
            "properties/org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty/triggers"
        )
        if found is None:
            found = jobs[name].find("triggers")
        return {child.tag.split(".")[-1]: child for child in (found if found is not None else [])}

    push = triggers("faceops-on-push")
    assert set(push) == {"GitHubPushTrigger", "SCMTrigger"}
    assert push["SCMTrigger"].findtext("spec") == "H/15 * * * *"
    nightly = triggers("faceops-nightly")
    assert set(nightly) == {"TimerTrigger"} and nightly["TimerTrigger"].findtext("spec") == "H 2 * * *"
    assert triggers("faceops-retrain") == {}


# ---- The Jenkinsfile, read as the Docker Pipeline plugin runs it ----


def test_steps_are_found():
    steps = container_steps((REPO / "Jenkinsfile").read_text())
    assert [step.stage for step in steps] == [
        "Check the machine",
        "Check the machine",
        "Pull data",
        "Drift",
        "Test",
        "Train and evaluate",
        "Retrain if below threshold",
        "Publish",
        "post",
    ]
    assert all(step.inside.startswith("make ci-") for step in steps)
    by_target = {re.match(r"make (ci-[\w-]+)", step.inside).group(1): step.credentials for step in steps}
    storage = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    smtp = ("FACEOPS_SMTP_USER", "FACEOPS_SMTP_PASSWORD")
    assert by_target["ci-doctor"] == (*storage, *smtp), "the doctor checks the login the report will use"
    assert by_target["ci-pull"] == storage
    assert by_target["ci-report"] == ("FACEOPS_SMTP_USER", "FACEOPS_SMTP_PASSWORD", *storage)  # drift: the bucket
    assert by_target["ci-monitor"] == storage
    assert by_target["ci-test"] == () and by_target["ci-repro"] == ()  # no secret where none is needed
    by_stage = {step.stage: step for step in steps}
    assert by_stage["Drift"].trigger == "TimerTrigger" and by_stage["Test"].trigger is None  # nightly only
    assert by_stage["Drift"].unstable == (3,) and by_stage["Retrain if below threshold"].unstable == (2,)


def test_failure_mail_needs_no_workspace():
    """After the agent itself fails there is no workspace: the FAILED mail is Jenkins' own `mail` step."""
    text = (REPO / "Jenkinsfile").read_text()
    [(start, end, _)] = _spans(text, r"(?m)^\s*unsuccessful\s*\{")
    block = text[start:end]
    assert "mail(" in block and "sh" not in re.sub(r"\w+sh|sh\w+", "", block)
    assert "NO REPORT" in block and "REPORT_TO" in block
    assert "lock(resource: 'gpu')" in text
    assert "mailer:" in (REPO / "docker/jenkins/plugins.txt").read_text()


def test_train_image_documents_a_matching_tensorflow_cuda_cudnn():
    """TF 2.18 is tested with CUDA 12.5 and cuDNN 9.3; the image must install exactly the TF it documents."""
    text = (REPO / "docker/train.Dockerfile").read_text()
    [(tf, cuda, cudnn)] = re.findall(r"# TF_VERSION=(\S+) CUDA=(\S+) CUDNN=(\S+)", text)
    tested = {"2.18.0": ("12.5", "9.3"), "2.17.0": ("12.3", "8.9"), "2.16.1": ("12.3", "8.9")}
    assert tested[tf] == (cuda, cudnn)
    assert f"'tensorflow[and-cuda]=={tf}'" in text
    assert "tensorflow/tensorflow:2.18.0-gpu" not in text.split("FROM", 1)[1].split("\n")[0]
    assert "KERAS_HOME=/var/cache/faceops/keras" in text
    serve = (REPO / "docker/serve.Dockerfile").read_text()
    assert "tensorflow-cpu" not in serve


# ---- The harness: the Jenkinsfile's steps under the docker agent's conditions ----


def test_one_constraints_file_for_the_image_and_the_harness():
    """docker/constraints.txt is the one list of the image's versions: train.Dockerfile installs with it, and the
    harness builds its environment from it (harness_bin)."""
    dockerfile = (REPO / "docker/train.Dockerfile").read_text()
    assert "COPY docker/constraints.txt" in dockerfile
    assert dockerfile.count("pip install --no-cache-dir -c docker/constraints.txt") == 2
    pins = constraints()
    [tf] = re.findall(r"'tensorflow\[and-cuda\]==([\d.]+)'", dockerfile)
    assert pins["tensorflow"] == tf == "2.18.0" and pins["numpy"] == "2.0.2"
    assert pins["nvidia-cudnn-cu12"].startswith("9.3.") and pins["nvidia-cuda-runtime-cu12"].startswith("12.5.")


@pytest.fixture(scope="module", autouse=True)
def remove_the_harness_folders():
    """The harness writes only into folders it made in /tmp, and removes them when the module's tests end."""
    yield
    while _CREATED:
        shutil.rmtree(_CREATED.pop(), ignore_errors=True)
