"""What several test modules share: running the project's tools, a real project in a temporary git + DVC
repository, a local SMTP inbox, free ports, and the import closure of a module."""

from __future__ import annotations

import ast
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FACEOPS_LFW", REPO.parent / "shared" / "datasets" / "lfw-people-20"))
# The four people with the most photos in lfw-people-20; import_folder picks them with max_people=4.
FOUR_PEOPLE = ["Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Tony_Blair"]
# The S3 server's credentials (tests/conftest.py: s3). Made anew each run, so that finding them in the
# workspace (whose tests hold this file) means a leak.
ACCESS_KEY, SECRET_KEY = f"AKIA{secrets.token_hex(8).upper()}", f"faceops-secret-{secrets.token_hex(16)}"
PROJECT_FILES = (
    "dvc.yaml",
    "Makefile",
    "Jenkinsfile",
    "pyproject.toml",
    "README.md",
    ".dockerignore",
    ".gitignore",
    ".ci/run",
)
PROJECT_FOLDERS = ("stages", "faceops", "tests", "docker", "jobs", "bench", "deploy", "docs")  # the last three: tested
# What the small test projects change in the committed params.yaml: small crops, one stranger, random
# VGG16 weights (no download), two epochs, and a release gate that lets such a weak model go live.
SMALL = {
    "base": {"image_size": 64},
    "split": {"strangers": 1},
    # head dense: the tests tune epochs and rates, which the dlib backbone's own head (centroid) has none of;
    # tests/e2e/test_galleries.py trains with the committed head (auto).
    "train": {"weights": None, "epochs": 2, "head": "dense"},
    "promote": {
        "min_metric": 0.0,
        "max_false_accept_rate": 1.0,
        "max_recall_drop": 1.0,
        "max_false_reject_rate": 1.0,
        "significance": 0.0,
    },
}


def tool_env() -> dict[str, str]:
    """Environment in which `python`, `dvc` and `faceops` are this interpreter's (as in the venv)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GIT_AUTHOR_NAME", "faceops tests")
    env.setdefault("GIT_AUTHOR_EMAIL", "tests@faceops.invalid")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def sh(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env or tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def committed_params() -> dict:
    """params.yaml as committed (git HEAD), not as the working tree has it.

    `make demo` runs `dvc exp run -S train.backbone=dlib_resnet`, which rewrites the working tree's
    params.yaml; tests must not depend on whether someone ran the demo first. Outside a git checkout
    the working tree's file is all there is.
    """
    shown = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=REPO, capture_output=True, text=True)
    text = shown.stdout if shown.returncode == 0 else (REPO / "params.yaml").read_text()
    return yaml.safe_load(text)


def write_params(path: Path, sections: dict) -> None:
    """Update params.yaml in the project at `path`, section by section."""
    params = yaml.safe_load((path / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def new_project(path: Path, **overrides: dict) -> Path:
    """A fresh git + DVC repository holding the project's pipeline and the SMALL settings, no data yet."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, path / name)
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO / folder, path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (path / "params.yaml").write_text(yaml.safe_dump(committed_params(), sort_keys=False))
    write_params(path, {**SMALL, **{k: {**SMALL.get(k, {}), **v} for k, v in overrides.items()}})
    sh("git", "init", "-q", "-b", "main", cwd=path)
    sh("dvc", "init", "-q", cwd=path)
    sh("dvc", "config", "core.analytics", "false", cwd=path)  # as the project's own .dvc/config says
    return path


def make_project(path: Path, lfw: Path, people: int = 4, images: int = 20, **overrides: dict) -> Path:
    """A fresh git + DVC repository holding the project's pipeline and a slice of LFW as dataset/raw."""
    new_project(path, **overrides)
    sh("faceops", "import-folder", str(lfw), "--max-people", str(people), "--max-images", str(images), cwd=path)
    sh("dvc", "add", "-q", "dataset/raw", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "project with a slice of LFW", cwd=path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.envelopes = []
        self.refused: set[str] = set()  # recipients answered 550, as a server does for a mailbox that is gone

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd's hook name
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"


def import_closure(module_file: Path, package: str = "faceops") -> set[Path]:
    """Files of `package` that importing `module_file` can run, through imports anywhere in the code
    (inside functions too), with each package's __init__.py; paths relative to the repository."""
    seen: set[Path] = set()
    todo = [module_file]
    while todo:
        current = todo.pop()
        for node in ast.walk(ast.parse(current.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if name != package and not name.startswith(package + "."):
                    continue
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):
                    base = REPO.joinpath(*parts[:depth])
                    for candidate in (base / "__init__.py", base.with_suffix(".py")):
                        if candidate.is_file() and candidate not in seen:
                            seen.add(candidate)
                            todo.append(candidate)
    return {path.relative_to(REPO) for path in seen}
