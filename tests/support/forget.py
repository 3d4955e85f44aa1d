"""Helpers of tests/*/test_forget.py, shared by its tiers."""

import hashlib
from pathlib import Path

import pytest
from helpers import make_project, sh

PEOPLE = 5


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _object(store: Path, md5: str) -> Path:
    return store / "files" / "md5" / md5[:2] / md5[2:]


def _forget(project: Path, *args: str, check: bool = True):
    return sh("faceops", "forget", *args, cwd=project, check=check)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, lfw):
    """A dlib project of 5 people, trained, committed and pushed to a local DVC remote."""
    root = tmp_path_factory.mktemp("forget")
    project = make_project(
        root / "repo", lfw, people=PEOPLE, images=12, train={"backbone": "dlib_resnet", "epochs": 30}
    )
    sh("dvc", "remote", "add", "--local", "--default", "store", str(root / "remote"), cwd=project)
    sh("dvc", "repro", "--quiet", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "trained", cwd=project)
    sh("dvc", "push", "--quiet", cwd=project)
    return project, root / "remote"
