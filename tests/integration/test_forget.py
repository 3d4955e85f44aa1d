"""Joining and leaving: `faceops enrol`, and `faceops forget` on a real trained project with a real local DVC
remote: nothing of the person is left anywhere faceops or DVC keep data, other people's data and results are
intact, and the receipt says so."""

import shutil
from pathlib import Path

import pytest
from helpers import free_port, make_project, sh, tool_env
from support.forget import _forget, _md5, _object


@pytest.fixture
def untrained(tmp_path, lfw):
    return make_project(tmp_path / "repo", lfw, people=3, images=3)


def _unchanged(project: Path) -> str:
    return sh("git", "status", "--porcelain", "--untracked-files=all", cwd=project).stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Nobody_Here", "no person 'Nobody_Here' in this project"),
        ("../dataset", "contains a path separator"),
        (".hidden", "is hidden"),
    ],
)
def test_bad_names_change_nothing(untrained, name, message):
    before = _unchanged(untrained)
    result = _forget(untrained, "--person", name, "--yes", check=False)
    bad_name = name != "Nobody_Here"  # a name that cannot be right is a usage error (exit 2), as for any option
    assert result.returncode == (2 if bad_name else 1)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("faceops forget: error: argument --person:" if bad_name else "error:") and message in line
    assert _unchanged(untrained) == before


def test_an_unreachable_remote_changes_nothing(untrained):
    person = sorted(path.name for path in (untrained / "dataset/raw").iterdir())[0]
    sh("dvc", "remote", "add", "--local", "--default", "store", "s3://faces/store", cwd=untrained)
    # Nothing listens on this port: the S3 endpoint is unreachable.
    sh("dvc", "remote", "modify", "--local", "store", "endpointurl", f"http://127.0.0.1:{free_port()}", cwd=untrained)
    env_keys = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    files = sorted((untrained / "dataset/raw" / person).iterdir())
    result = sh("faceops", "forget", "--person", person, "--yes", cwd=untrained, check=False, env=tool_env() | env_keys)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "the DVC remote 'store' is not reachable" in line and "nothing was changed" in line
    assert sorted((untrained / "dataset/raw" / person).iterdir()) == files


def test_enrol_from_a_folder_commits_and_pushes(untrained, lfw, tmp_path):
    """Joining: photos captured from a folder, tracked with DVC, committed, and pushed to both remotes."""
    sh("git", "init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    sh("git", "remote", "add", "origin", str(tmp_path / "origin.git"), cwd=untrained)
    sh("git", "push", "-q", "-u", "origin", "main", cwd=untrained)
    sh("dvc", "remote", "add", "--local", "--default", "store", str(tmp_path / "store"), cwd=untrained)
    source = tmp_path / "photos"
    source.mkdir()
    for photo in sorted((lfw / "Gerhard_Schroeder").iterdir())[:4]:
        shutil.copy(photo, source / photo.name)

    result = sh("faceops", "enrol", "--person", "Gerhard", "--source", str(source), "--push", cwd=untrained)
    saved = sorted((untrained / "dataset/raw/Gerhard").iterdir())
    assert len(saved) >= 3 and "pushed" in result.stdout  # capture's quality gates may refuse one
    assert sh("git", "status", "--porcelain", cwd=untrained).stdout == ""
    head = sh("git", "rev-parse", "HEAD", cwd=untrained).stdout
    assert sh("git", "rev-parse", "main", cwd=tmp_path / "origin.git").stdout == head
    assert f"capture: {len(saved)} photos of Gerhard" in sh("git", "log", "-1", "--format=%s", cwd=untrained).stdout
    for photo in saved:
        assert _object(tmp_path / "store", _md5(photo)).exists()
