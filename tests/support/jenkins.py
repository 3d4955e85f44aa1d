"""Helpers of tests/*/test_jenkins.py, shared by its tiers."""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, tool_env


def _tool(name: str) -> str:
    """A tool found on PATH, as in the build image (where pip puts scripts in /usr/local/bin)."""
    found = shutil.which(name, path=tool_env()["PATH"])
    if not found:
        pytest.fail(f"{name} is not on PATH: run `make install`")
    return found


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    out = tmp_path_factory.mktemp("jobs")
    result = subprocess.run(
        [_tool("jenkins-jobs"), "test", str(REPO / "jobs"), "-o", str(out)],
        capture_output=True,
        text=True,
        env=tool_env(),
    )
    assert result.returncode == 0, result.stderr
    return {path.name: ET.parse(path).getroot() for path in out.iterdir()}


def _block_end(text: str, open_brace: int) -> int:
    """Offset of the brace that closes the one at `open_brace` (GString ${...} braces balance too)."""
    depth = 0
    for offset in range(open_brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[offset], 0)
        if depth == 0:
            return offset
    raise AssertionError("unbalanced braces in the Jenkinsfile")


def _spans(text: str, pattern: str) -> list[tuple[int, int, re.Match]]:
    """(start, end, match) of every block whose header matches `pattern` and ends with `{`."""
    found = []
    for match in re.finditer(pattern, text):
        brace = text.index("{", match.end() - 1)
        found.append((match.start(), _block_end(text, brace), match))
    return found


TRAIN_RUN = "docker/run-train.sh "  # runs the rest of the command in the training image (docker run)


@dataclass
class Step:
    stage: str  # the stage's name, or "post"
    command: str  # what runs in the training container (run-train.sh's arguments), or on the agent
    credentials: tuple[str, ...]  # variables bound by enclosing withCredentials blocks
    trigger: str | None = None  # the stage runs only in builds with this cause: when { triggeredBy '...' }
    unstable: tuple[int, ...] = ()  # exit statuses the stage turns into unstable(...)
    inside: str = ""  # the command run-train.sh runs in the training container


def jenkinsfile_steps(text: str) -> list[Step]:
    """Every `sh` step in file order, with its stage and the credential variables bound around it."""
    stages = _spans(text, r"(?m)^\s*stage\('([^']+)'\)\s*\{")
    posts = _spans(text, r"(?m)^\s*post\s*\{")
    bindings = [
        (start, end, tuple(re.findall(r"(?:usernameVariable|passwordVariable|variable):\s*'(\w+)'", match.group(0))))
        for start, end, match in _spans(text, r"withCredentials\(\[(?:[^\]]|\n)*?\]\)\s*\{")
    ]
    steps = []
    for match in re.finditer(r"\bsh(?:\(script:)?\s*'([^']+)'", text):
        at = match.start()
        stage, block = next(((m.group(1), text[s:e]) for s, e, m in stages if s < at < e), (None, ""))
        if any(s < at < e for s, e, _ in posts):
            stage, block = "post", ""
        credentials = tuple(name for s, e, names in bindings if s < at < e for name in names)
        trigger = re.search(r"when\s*\{\s*triggeredBy\s+'(\w+)'\s*\}", block)
        unstable = tuple(int(code) for code in re.findall(r"status == (\d+)\)\s*\{\s*unstable\(", block))
        steps.append(Step(stage, match.group(1), credentials, trigger and trigger.group(1), unstable))
    return steps


STEP_INIT = REPO / "docker/step-init.py"  # PID 1 of every build container (run-train.sh)


def container_steps(text: str) -> list[Step]:
    """The steps as the harness runs them: what run-train.sh runs in the container (`step.inside`) under
    step-init, as the image's PID 1 does, followed by the rest of the agent's script (`|| :; exit ...`).
    The image build, `run-train.sh --build`, is the Docker boundary and is left out."""
    steps = []
    for step in jenkinsfile_steps(text):
        assert step.command.startswith(TRAIN_RUN), f"{step.command}: every step runs through {TRAIN_RUN}"
        if step.command == TRAIN_RUN + "--build":
            continue
        inside, rest = re.fullmatch(r"(make ci-[\w-]+)(.*)", step.command[len(TRAIN_RUN) :]).groups()
        command = f"python3 {shlex.quote(str(STEP_INIT))} sh -xe -c {shlex.quote(inside)}{rest}"
        steps.append(Step(step.stage, command, step.credentials, step.trigger, step.unstable, inside))
    return steps


BUILD_USER = "faceops-agent"


def _build_user() -> tuple[int, int] | None:
    """The uid:gid the Docker Pipeline plugin runs steps as: the agent's user, never root. When the tests
    run as root, a system user stands in for it; otherwise the tests' own user already is one."""
    import os
    import pwd

    if os.getuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(BUILD_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", BUILD_USER], check=True)
        entry = pwd.getpwnam(BUILD_USER)
    return entry.pw_uid, entry.pw_gid


def _build_user_can_read(python: str, *paths: Path) -> None:
    """Fail in one line, before any step, when the build user cannot read the checkout or its environment: a
    folder above it closed to other users (`mktemp -d` makes them 0700) would fail every step with EACCES."""
    uid, gid = _build_user()
    probe = "import os, sys; sys.exit(0 if all(os.access(p, os.R_OK) for p in sys.argv[1:]) else 1)"
    if subprocess.run([python, "-c", probe, *map(str, paths)], user=uid, group=gid, check=False).returncode:
        pytest.fail(
            f"the build user {BUILD_USER} (the Jenkins agent's stand-in) cannot read {', '.join(map(str, paths))}: "
            "a folder above them is closed to other users (mktemp -d makes 0700 ones); clone into a folder others "
            "can enter, or chmod o+x the folders above the checkout",
            pytrace=False,
        )


CONSTRAINTS = REPO / "docker/constraints.txt"  # the training image's pinned stack (train.Dockerfile: pip -c)


def constraints() -> dict[str, str]:
    """name -> version of docker/constraints.txt (lines `name==version`, names normalised as pip does)."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _versions(python: Path, names: list[str]) -> dict[str, str | None]:
    """The installed version of each distribution, as `python` sees them."""
    script = (
        "import json, sys\nfrom importlib import metadata\nout = {}\nfor n in sys.argv[1:]:\n"
        "    try:\n        out[n] = metadata.version(n)\n    except metadata.PackageNotFoundError:\n"
        "        out[n] = None\nprint(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", script, *names], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def harness_bin():
    """The harness's own virtual environment, built once per test session in /tmp, on the image's stack: the
    system Python 3.11, the packages docker/constraints.txt pins where the developer's environment has other
    versions (TensorFlow 2.18.0, numpy 2.0.2, ...; installed here with pip --no-deps), and the developer
    environment's packages for the rest (the same versions as the image's), with its console scripts (faceops,
    dvc, ...) pointing at it. The build user runs the steps with it: the developer's interpreter may sit under a
    folder only its owner can enter (pyenv in /root), and the harness changes no permission outside /tmp.
    FACEOPS_HARNESS_PINNED=0 skips the install (offline): test_harness_runs_the_image_stack then fails."""
    import sys
    import sysconfig

    base = "/usr/bin/python3"
    if not (_build_user() and Path(base).exists()):
        yield Path(sys.executable).parent  # not root: the tests' own user already is the build user
        return
    _build_user_can_read(base, STEP_INIT, Path(sysconfig.get_paths()["purelib"]))
    root = Path(tempfile.mkdtemp(prefix="faceops-harness-", dir="/tmp"))
    os.chmod(root, 0o755)
    venv = root / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    site_packages = venv / f"lib/python{version}/site-packages"
    if not site_packages.is_dir():
        pytest.skip(f"{base} is not Python {version}, for which the project's packages are built")
    own_site = Path(sysconfig.get_paths()["purelib"])
    (site_packages / "faceops-harness.pth").write_text(f"import site; site.addsitedir({str(own_site)!r})\n")
    own = Path(sys.executable).parent
    for script in own.iterdir():
        first = script.read_bytes()[:300].split(b"\n", 1)[0] if script.is_file() else b""
        target = venv / "bin" / script.name
        if first.startswith(b"#!") and str(own).encode() in first:
            target.write_text(f"#!{venv / 'bin/python'}\n" + script.read_text().split("\n", 1)[1])
            target.chmod(0o755)
        elif script.is_file() and not script.is_symlink() and os.access(script, os.X_OK) and not target.exists():
            target.symlink_to(script)  # a binary tool (ruff, hadolint): the build user can run it where it is
    pins = constraints()
    have = _versions(venv / "bin/python", list(pins))
    differ = [f"{name}=={version}" for name, version in pins.items() if have[name] not in (None, version)]
    if differ and os.environ.get("FACEOPS_HARNESS_PINNED", "1") != "0":
        subprocess.run(
            [own / "python", "-m", "pip", "install", "-q", "--no-deps", "--target", str(site_packages), *differ],
            check=True,
            env=tool_env(),
        )
    yield venv / "bin"
    shutil.rmtree(root, ignore_errors=True)


_CREATED: list[Path] = []  # the harness's folders outside pytest's own (which is root's, mode 0700)
