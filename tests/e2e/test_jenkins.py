"""Jenkins jobs, Jenkinsfile and Dockerfiles: linted, and the Jenkinsfile's shell steps run for real.

No Jenkins server or Docker engine exists here: the jobs are checked as generated XML, the Jenkinsfile
with npm-groovy-lint, the Dockerfiles with hadolint, and the Jenkinsfile's `sh` steps run in order in a
clone under the docker agent's conditions: as a non-root user, with HOME=/, the volumes mapped, and only
the variables the Jenkinsfile passes. Jenkins-only steps (checkout scm, the docker agent itself, lock,
the mail step, unstable()) are the boundary that is emulated, not run.
"""

import email
import email.policy
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import ACCESS_KEY, LFW, REPO, SECRET_KEY, Inbox, free_port, make_project, sh, tool_env
from support.jenkins import _CREATED, Step, _build_user, _spans, _versions, constraints, container_steps

# ---- The Jenkinsfile, read as the Docker Pipeline plugin runs it ----


def jenkinsfile_environment(text: str) -> dict[str, str]:
    """The pipeline's environment {} block: NAME = 'value' or NAME = credentials('id')."""
    [(start, end, _)] = _spans(text, r"(?m)^\s*environment\s*\{")
    return dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*(?://.*)?$", text[start:end].split("{", 1)[1], re.M))


def image_environment() -> dict[str, str]:
    """The ENV of the build image (docker/train.Dockerfile): part of every step's environment."""
    text = (REPO / "docker/train.Dockerfile").read_text().replace("\\\n", " ")
    return dict(pair.split("=", 1) for line in re.findall(r"(?m)^ENV (.+)$", text) for pair in line.split())


# ---- The harness: the Jenkinsfile's steps under the docker agent's conditions ----


@pytest.mark.slow
def test_harness_runs_the_image_stack(harness_bin):
    """The harness's environment has exactly the image's version of every package both have."""
    pins = constraints()
    have = _versions(harness_bin / "python", [*pins, "faceops"])
    differ = {name: f"{have[name]} (image: {pins[name]})" for name in pins if have[name] not in (None, pins[name])}
    assert not differ, f"the harness runs another stack than the image: {differ}"
    assert have["tensorflow"] == "2.18.0" and have["faceops"] is not None


@pytest.fixture(scope="module", autouse=True)
def remove_the_harness_folders():
    """The harness writes only into folders it made in /tmp, and removes them when the module's tests end."""
    yield
    while _CREATED:
        shutil.rmtree(_CREATED.pop(), ignore_errors=True)


SMTP_LOGIN = ("faceops@faceops.test", "smtp-pass-7c1e")  # the faceops-smtp credential


@pytest.fixture
def smtp_inbox():
    """An SMTP server that, like a real one, takes mail only after AUTH with the right login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    inbox = Inbox()
    inbox.logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        inbox.logins.append(login[0])
        return AuthResult(success=login == SMTP_LOGIN, handled=False)  # handled=False: answer 535 when refused

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # smtp_security none on 127.0.0.1; a real server needs starttls or ssl
    )
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _own(path: Path, user: tuple[int, int] | None) -> None:
    """Hand `path` to the build user, or back to the tests' own user (git refuses others' repositories)."""
    import os

    if os.getuid() == 0:
        owner = f"{user[0]}:{user[1]}" if user else "0:0"
        subprocess.run(["chown", "-R", owner, str(path)], check=True)


@dataclass
class Build:
    """One build of the Jenkinsfile: its steps run in order in a clone, as the build user, stopping at the
    first failure; then the post steps run, with the build's result."""

    workspace: Path
    results: dict[str, list[subprocess.CompletedProcess]]
    result: str
    log: str


def run_build(
    tmp: Path,
    origin: Path,
    parameters: dict[str, str],
    secrets: dict[str, str],
    controller_env: dict[str, str],
    before_stage: dict | None = None,
    cause: str = "SCMTrigger",
    only: set[str] | None = None,
    bin_dir: Path | None = None,
    abort: tuple[str, Callable[[Path], bool]] | None = None,
) -> Build:
    """The Jenkinsfile's steps as the docker agent runs them, for a build started by `cause` (SCMTrigger: a
    push; TimerTrigger: the nightly job). `only`: run just these stages (then post), as if the rest passed.
    `bin_dir`: the harness's environment (harness_bin). `abort`: (stage, ready): once `ready(workspace)` holds
    while that stage's step runs, the build is aborted as Jenkins does it through docker/run-train.sh: `docker
    run` passes the SIGTERM to the container's init, which sends it to the step's whole process group."""
    text = (REPO / "Jenkinsfile").read_text()
    user = _build_user()
    workspace, volumes = _agent_workspace(tmp, origin, user)
    base = _container_environment(text, workspace, volumes, parameters, secrets, bin_dir)
    assert not set(controller_env) & set(base), "the harness must not leak the controller's environment"
    bound = {
        "AWS_ACCESS_KEY_ID": secrets["faceops-dvc-storage"][0],
        "AWS_SECRET_ACCESS_KEY": secrets["faceops-dvc-storage"][1],
        "FACEOPS_SMTP_USER": secrets["faceops-smtp"][0],
        "FACEOPS_SMTP_PASSWORD": secrets["faceops-smtp"][1],
    }

    def run(step: Step, extra: dict, ready: Callable[[Path], bool] | None = None) -> subprocess.CompletedProcess:
        env = {**base, **extra, **{name: bound[name] for name in step.credentials if name in bound}}
        return _run_step(step, workspace, env, user, ready)

    results: dict[str, list[subprocess.CompletedProcess]] = {}
    result = "SUCCESS"
    for step in [s for s in container_steps(text) if s.stage != "post"]:
        if (step.trigger and step.trigger != cause) or (only and step.stage not in only):
            continue
        if before_stage and step.stage in before_stage and step.stage not in results:
            before_stage.pop(step.stage)()
        aborting = abort is not None and abort[0] == step.stage
        done = run(step, {"STAGE_NAME": step.stage}, abort[1] if aborting else None)
        results.setdefault(step.stage, []).append(done)
        if aborting:
            result = "ABORTED"  # Jenkins ends an aborted build so, whatever the step's status
            break
        if done.returncode in step.unstable:
            result = "UNSTABLE"  # the Jenkinsfile's unstable(...)
        elif done.returncode != 0:
            result = "FAILURE"
            break
    for step in [s for s in container_steps(text) if s.stage == "post"]:
        report = run(step, {"BUILD_RESULT": result})
        results.setdefault("post", []).append(report)
        if report.returncode != 0 and result == "SUCCESS":
            result = "UNSTABLE"  # the Jenkinsfile's unstable('the report could not be sent ...')
    log = "\n".join(r.stdout + r.stderr for runs in results.values() for r in runs)
    return Build(workspace, results, result, log)


def _agent_workspace(tmp: Path, origin: Path, user: tuple[int, int] | None) -> tuple[Path, dict[str, str]]:
    """The agent's workspace (`checkout scm`), owned by the build user, outside pytest's private tmp folder (mode
    0700, root's); and the container's -v mounts and its own /tmp, inside path to outside path."""
    import os
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="faceops-agent-", dir="/tmp"))
    _CREATED.append(root)
    os.chmod(root, 0o755)
    workspace, cache = root / "workspace", root / "volume-faceops-cache"
    sh("git", "clone", "-q", str(origin), str(workspace), cwd=tmp)  # what `checkout scm` does
    cache.mkdir()
    (root / "container-tmp").mkdir()
    if user:
        for path in (root, origin):
            _own(path, user)
    volumes = {"/var/cache/faceops": str(cache), "/data/lfw-people-20": str(LFW), "/tmp/": f"{root}/container-tmp/"}
    return workspace, volumes


def _container_environment(
    text: str,
    workspace: Path,
    volumes: dict[str, str],
    parameters: dict[str, str],
    secrets: dict[str, str],
    bin_dir: Path | None,
) -> dict[str, str]:
    """Only what the Jenkinsfile passes reaches the container: its environment {}, the build parameters, Jenkins'
    own build variables and the credentials bound around each step. The controller's variables do not: the
    Docker Pipeline plugin drops the host's environment."""
    import os

    def volume(value: str) -> str:
        """A path inside the container as it is outside: the first mount it lies under (mapped once)."""
        for inside, outside in volumes.items():
            if value.startswith(inside):
                return outside + value[len(inside) :]
        return value

    environment = {name: volume(value) for name, value in image_environment().items()}
    for name, value in jenkinsfile_environment(text).items():
        if credential := re.fullmatch(r"credentials\('([\w-]+)'\)", value):
            environment[name] = secrets[credential.group(1)]
        else:
            environment[name] = volume(value.strip("'\""))
    return {
        "PATH": f"{bin_dir or Path(tool_env()['PATH'].split(os.pathsep)[0])}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": "/",  # as `docker run -u uid:gid` leaves it: not writable
        "BUILD_NUMBER": "7",
        "JOB_NAME": "faceops-on-push",
        "GIT_BRANCH": "origin/main",
        "WORKSPACE": str(workspace),
        **parameters,
        **environment,
    }


def _run_step(
    step: Step,
    workspace: Path,
    env: dict[str, str],
    user: tuple[int, int] | None,
    ready: Callable[[Path], bool] | None,
) -> subprocess.CompletedProcess:
    """One `sh` step in the container; with `ready`, aborted (SIGTERM to its process group) once ready holds."""
    import os

    process = subprocess.Popen(
        ["sh", "-xe", "-c", step.command],  # as Jenkins' sh step runs its script
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        user=user[0] if user else None,
        group=user[1] if user else None,
        start_new_session=True,  # the container's process group, which tini signals as a whole
    )
    if ready:
        deadline = time.monotonic() + 600
        while process.poll() is None and not ready(workspace) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, f"the step ended before it could be aborted: {process.communicate()}"
        os.killpg(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=900)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _user_project(tmp: Path, lfw: Path, s3: str, smtp_port: int, trained: bool = False, **overrides) -> Path:
    """The user's repository: data pushed to the S3 remote with DVC, mail settings in params.yaml; `trained`:
    with a live model already (committed and pushed)."""
    project = make_project(tmp / "project", lfw, **overrides)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["report"].update(
        smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none", sender="faceops@faceops.test"
    )
    params["retrain"].update(
        threshold=0.9,
        max_attempts=1,
        schedule=[{"name": "face-backbone", "set": {"train.backbone": "dlib_resnet", "train.epochs": 30}}],
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "commit", "-qam", "mail settings and a retrain schedule", cwd=project)
    if trained:
        sh("dvc", "repro", "--quiet", cwd=project)
        sh("git", "add", "-A", cwd=project)
        sh("git", "commit", "-qm", "a live model", cwd=project)
    keys = tool_env() | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    sh("dvc", "remote", "add", "--local", "--default", "store", "s3://faces/store", cwd=project)
    sh("dvc", "remote", "modify", "--local", "store", "endpointurl", s3, cwd=project)
    sh("dvc", "push", "-q", cwd=project, env=keys)
    # The git server: where the build user can reach it (pytest's own tmp folder is root's, mode 0700).
    server = Path(tempfile.mkdtemp(prefix="faceops-origin-", dir="/tmp"))
    _CREATED.append(server)
    os.chmod(server, 0o755)
    sh("git", "clone", "-q", "--bare", str(project), str(server / "origin.git"), cwd=tmp)
    return server / "origin.git"


def _secrets() -> dict:
    return {
        "faceops-dvc-remote": "s3://faces/store",
        "faceops-dvc-storage": (ACCESS_KEY, SECRET_KEY),
        "faceops-smtp": SMTP_LOGIN,
    }


def _parameters(s3: str) -> dict[str, str]:
    """The build parameters (jobs/faceops.yaml) as a user starts a build on a CPU agent."""
    return {
        "REPORT_TO": "team@faceops.test",
        "RETRAIN_THRESHOLD": "",
        "FORCE_REPRO": "false",
        "REQUIRE_GPU": "false",
        "DVC_REMOTE_ENDPOINT_URL": s3,
    }


CONTROLLER_ENV = {"FACEOPS_SMTP_HOST": "smtp.controller-only.invalid", "FACEOPS_SMTP_PORT": "2525"}


@pytest.mark.slow
def test_jenkinsfile_steps_run_as_the_docker_agent(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    inbox, smtp_port = smtp_inbox
    origin = _user_project(tmp_path, lfw, s3, smtp_port)
    base_commit = sh("git", "rev-parse", "main", cwd=origin).stdout.strip()
    owner_blind = tool_env()

    def someone_pushes():  # main moves while the model trains: publish must rebase, not fail
        other = tmp_path / "other"
        colleague = tool_env()
        _own(origin, None)
        sh("git", "clone", "-q", str(origin), str(other), cwd=tmp_path, env=colleague)
        (other / "NOTES.md").write_text("a colleague's note\n")
        sh("git", "add", "NOTES.md", cwd=other, env=colleague)
        sh("git", "commit", "-qm", "a colleague's commit", cwd=other, env=colleague)
        sh("git", "push", "-q", "origin", "HEAD:main", cwd=other, env=colleague)
        _own(origin, _build_user())

    build = run_build(
        tmp_path, origin, _parameters(s3), _secrets(), CONTROLLER_ENV, {"Publish": someone_pushes}, bin_dir=harness_bin
    )
    _own(origin, None)
    _own(build.workspace, None)
    steps = {stage: [r.returncode for r in runs] for stage, runs in build.results.items()}
    assert build.result == "SUCCESS", f"{steps}\n{build.log[-6000:]}"

    assert "FAIL" not in build.results["Check the machine"][1].stdout  # doctor: remote, mail, recipients ok
    assert (build.workspace / "dataset/raw").is_dir()  # pulled from the S3 remote
    assert "passed" in build.results["Test"][0].stdout
    assert "PASSED: accuracy meets 0.9" in build.results["Retrain if below threshold"][0].stdout
    assert "rebasing" in build.results["Publish"][0].stdout
    log = sh("git", "log", "-2", "--format=%an|%s", "main", cwd=origin, env=owner_blind).stdout.splitlines()
    assert log[0].startswith("faceops-ci|faceops: model retrained by CI (") and "colleague" in log[1]
    assert "backbone: dlib_resnet" in sh("git", "show", "main:params.yaml", cwd=origin, env=owner_blind).stdout
    keys = owner_blind | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    assert "in sync" in sh("dvc", "status", "--cloud", cwd=build.workspace, env=keys).stdout  # the model was pushed
    assert (build.workspace.parent / "volume-faceops-cache").is_dir()
    # The storage keys reach DVC through the environment only: in no log line and no file of the workspace.
    assert SECRET_KEY not in build.log and ACCESS_KEY not in build.log
    leaked = sh("grep", "-rlF", SECRET_KEY, str(build.workspace), cwd=REPO, check=False).stdout
    assert leaked == "", f"the secret key was written to {leaked}"
    assert SMTP_LOGIN[1] not in build.log
    assert set(inbox.logins) == {SMTP_LOGIN[0]}, "the report logs in with the faceops-smtp credential"
    [envelope] = inbox.envelopes  # sent through params.yaml's server, not the controller's
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert envelope.rcpt_tos == ["team@faceops.test"]
    assert message["Subject"].strip().startswith("[faceops] PASSED: accuracy")
    text = message.get_body(("plain",)).get_content()
    assert f"compared with {base_commit}" in text  # the build's base commit, not HEAD after Publish
    assert "unchanged from the base commit" not in text


@pytest.mark.slow
def test_a_failing_stage_mails_failed_naming_it(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    inbox, smtp_port = smtp_inbox
    # One person and no negatives: validation passes, then the train stage (in dvc repro) says what to add.
    origin = _user_project(tmp_path, lfw, s3, smtp_port, people=1)
    build = run_build(tmp_path, origin, _parameters(s3), _secrets(), CONTROLLER_ENV, bin_dir=harness_bin)
    assert build.result == "FAILURE" and list(build.results)[-2] == "Train and evaluate", build.log[-4000:]
    assert "training needs faces of at least 2 people, or of 1 person" in build.results["Train and evaluate"][0].stderr
    [envelope] = inbox.envelopes
    subject = email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"]
    assert subject.strip().startswith("[faceops] FAILED at stage 'Train and evaluate'"), subject
    _own(origin, None)
    owner_blind = tool_env()
    assert sh("git", "log", "-1", "--format=%an", "main", cwd=origin, env=owner_blind).stdout.strip() != "faceops-ci"


@pytest.mark.slow
def test_the_nightly_build_marks_drift_unstable_and_mails_it(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    """The service's recognition log in the DVC remote's bucket says one person's faces moved away from the live
    model's baseline: the nightly (timer) build's Drift stage names them and the build is unstable; a build
    started by a push does not monitor."""
    import time

    import s3fs

    from faceops.model.card import ModelCard
    from faceops.records.drift import log_recognitions
    from faceops.records.store import BucketStore

    inbox, smtp_port = smtp_inbox
    origin = _user_project(tmp_path, lfw, s3, smtp_port, trained=True)
    card = ModelCard.read(tmp_path / "project/models/model.json")
    drifting = card.labels[0]
    baseline = card.open_set.median_distance[0]
    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": s3})
    store = BucketStore(fs, "faces/store/faceops-records", "the service's records")  # remote://ci/faceops-records
    log_recognitions(
        store,
        [
            {
                "time": time.time(),
                "name": drifting,
                "label": drifting,
                "distance": baseline + 0.3,
                "model": card.version,
            }
            for _ in range(12)
        ],
    )
    store.close()
    stages = {"Check the machine", "Pull data", "Drift"}

    pushed = run_build(tmp_path, origin, _parameters(s3), _secrets(), CONTROLLER_ENV, only=stages, bin_dir=harness_bin)
    assert pushed.result == "SUCCESS" and "Drift" not in pushed.results, pushed.log[-3000:]
    _own(origin, None)  # the clone below is made as the controller's user again
    nightly = run_build(
        tmp_path,
        origin,
        _parameters(s3),
        _secrets(),
        CONTROLLER_ENV,
        cause="TimerTrigger",
        only=stages,
        bin_dir=harness_bin,
    )
    _own(origin, None)
    assert nightly.result == "UNSTABLE", nightly.log[-4000:]
    monitor = nightly.results["Drift"][0]
    assert monitor.returncode == 3 and f"faceops capture --person {drifting}" in monitor.stdout
    assert "in remote://ci/faceops-records (s3://faces/store/faceops-records)" in monitor.stdout
    assert SECRET_KEY not in nightly.log
    message = email.message_from_bytes(inbox.envelopes[-1].content, policy=email.policy.default)
    assert "(build unstable)" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "drift: 1 of 1 people drifted" in text and f"run: faceops capture --person {drifting}" in text


@pytest.mark.slow
def test_a_report_that_cannot_be_sent_makes_the_build_unstable(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    """The machine checks pass, but the SMTP server refuses the report's recipient when the build sends it: no mail
    goes out, and the build says so instead of ending SUCCESS."""
    inbox, smtp_port = smtp_inbox
    inbox.refused = {"gone@faceops.test"}
    origin = _user_project(tmp_path, lfw, s3, smtp_port, trained=True)  # a model and metrics to report on
    build = run_build(
        tmp_path,
        origin,
        _parameters(s3) | {"REPORT_TO": "gone@faceops.test"},
        _secrets(),
        CONTROLLER_ENV,
        only={"Check the machine", "Pull data"},
        bin_dir=harness_bin,
    )
    _own(origin, None)
    assert build.result == "UNSTABLE", build.log[-4000:]
    assert inbox.envelopes == [] and set(inbox.logins) == {SMTP_LOGIN[0]}  # logged in, recipient refused
    report = build.results["post"][0]
    assert report.returncode != 0
    assert "refused the recipients gone@faceops.test" in report.stderr + report.stdout


@pytest.mark.slow
def test_a_wrong_smtp_password_fails_the_build_before_any_work(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    """The SMTP server refuses the login: `faceops doctor` finds it in the first stage, so the build fails before
    pulling or training for an hour, names the login, and never prints the password."""
    inbox, smtp_port = smtp_inbox
    origin = _user_project(tmp_path, lfw, s3, smtp_port, trained=True)
    secrets = _secrets() | {"faceops-smtp": (SMTP_LOGIN[0], "a wrong password")}
    build = run_build(
        tmp_path,
        origin,
        _parameters(s3),
        secrets,
        CONTROLLER_ENV,
        only={"Check the machine", "Pull data"},
        bin_dir=harness_bin,
    )
    _own(origin, None)
    assert build.result == "FAILURE", build.log[-4000:]
    assert "FAILED at stage 'Check the machine'" in build.log
    assert f"FAIL  smtp                  SMTP login as {SMTP_LOGIN[0]}" in build.log
    assert inbox.envelopes == [] and set(inbox.logins) == {SMTP_LOGIN[0]}
    assert "a wrong password" not in build.log


@pytest.mark.slow
def test_an_abort_during_retrain_restores_params_and_reports_it(tmp_path, lfw, s3, smtp_inbox, harness_bin):
    """Jenkins aborts the build while faceops retrain runs an experiment: the SIGTERM reaches it through
    step-init, it puts params.yaml back, the build ends ABORTED and the report says the build was aborted."""
    inbox, smtp_port = smtp_inbox
    origin = _user_project(tmp_path, lfw, s3, smtp_port, trained=True)
    before = sh("git", "show", "main:params.yaml", cwd=origin).stdout

    def experimenting(workspace: Path) -> bool:  # dvc exp run -S has written the tweak into params.yaml
        return (workspace / "params.yaml").read_text() != before

    stages = {"Check the machine", "Pull data", "Retrain if below threshold"}
    build = run_build(
        tmp_path,
        origin,
        _parameters(s3) | {"RETRAIN_THRESHOLD": "0.999"},
        _secrets(),
        CONTROLLER_ENV,
        only=stages,
        bin_dir=harness_bin,
        abort=("Retrain if below threshold", experimenting),
    )
    _own(origin, None)
    _own(build.workspace, None)
    assert build.result == "ABORTED", build.log[-4000:]
    retrain = build.results["Retrain if below threshold"][0]
    assert "SIGTERM: passed to the step's processes" in retrain.stderr
    assert "SIGTERM: stopped; the workspace is as it was before retraining" in retrain.stdout + retrain.stderr
    assert (build.workspace / "params.yaml").read_text() == before
    report = build.results["post"][0]
    assert len(inbox.envelopes) == 1, report.stdout[-3000:] + report.stderr[-3000:]
    [envelope] = inbox.envelopes
    subject = email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"]
    assert "FAILED at stage 'Retrain if below threshold': build aborted" in subject, subject
