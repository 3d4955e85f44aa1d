"""Model versions on GTO: every promotion a version, `faceops models` lists them, `faceops rollback` restores one."""

from helpers import new_project, sh


def test_no_versions_yet(tmp_path):
    path = new_project(tmp_path / "repo")
    sh("git", "commit", "-q", "--allow-empty", "-m", "empty", cwd=path)
    assert (
        sh("faceops", "models", cwd=path).stdout.strip() == "no model versions registered (faceops models --register)"
    )
    rollback = sh("faceops", "rollback", cwd=path, check=False)
    assert rollback.returncode == 1 and rollback.stderr.strip() == (
        "error: no model versions are registered yet (`faceops models --register` after a promotion)"
    )
    register = sh("faceops", "models", "--register", cwd=path, check=False)
    assert register.returncode == 1 and "dvc.lock at HEAD records no models/model.keras" in register.stderr
