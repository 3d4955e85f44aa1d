"""Shared fixtures: real LFW photos from ../shared, and a real git + DVC repository of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FACEOPS_LFW", REPO.parent / "shared" / "datasets" / "lfw-people-20"))
# The four people with the most photos in lfw-people-20; import_folder picks them with max_people=4.
FOUR_PEOPLE = ["Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Tony_Blair"]


@pytest.fixture(scope="session")
def lfw() -> Path:
    if not LFW.is_dir():
        pytest.fail(f"{LFW}: the shared LFW data set is missing; set FACEOPS_LFW to its folder")
    return LFW


@pytest.fixture(scope="session")
def lfw_photo(lfw: Path) -> Path:
    return lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"


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


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def make_project(path: Path, lfw: Path, people: int = 4, images: int = 20, **overrides: dict) -> Path:
    """A fresh git + DVC repository holding the project's pipeline and a slice of LFW as dataset/raw."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", "Makefile", "Jenkinsfile", "pyproject.toml", "README.md", ".dockerignore"):
        shutil.copy(REPO / name, path / name)
    for folder in ("stages", "faceops", "tests", "docker", "jobs"):
        shutil.copytree(REPO / folder, path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((path / "params.yaml").read_text())
    small = {"base": {"image_size": 64}, "split": {"strangers": 1}, "train": {"weights": None, "epochs": 2}}
    for section, values in [*small.items(), *overrides.items()]:
        params[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (path / ".gitignore").write_text("/.faceops/\n__pycache__/\n.pytest_cache/\n")
    sh("git", "init", "-q", "-b", "main", cwd=path)
    sh("dvc", "init", "-q", cwd=path)
    sh("faceops", "import-folder", str(lfw), "--max-people", str(people), "--max-images", str(images), cwd=path)
    sh("dvc", "add", "-q", "dataset/raw", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "project with a slice of LFW", cwd=path)
    return path
