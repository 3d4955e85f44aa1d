"""`faceops doctor` runs every check even after one failed; the project's DVC config sends no analytics."""

import configparser
import shutil
import subprocess

import yaml
from helpers import REPO, sh, tool_env

from faceops.ops.doctor import FAIL, format_table, run_checks


def test_doctor_runs_every_check_after_a_failed_one(tmp_path):
    sh("git", "init", "-q", cwd=tmp_path)
    sh("dvc", "init", "-q", cwd=tmp_path, env=tool_env())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    checks = run_checks(tmp_path, reachable=lambda url: False)
    names = [check.name for check in checks]
    assert names[:2] == ["python", "params.yaml"] and checks[1].status == FAIL
    assert "train.learning_rate is 0" in checks[1].detail and "the checks below use the defaults" in checks[1].detail
    for later in ("keras", "backbone dlib_resnet", "backbone vgg16", "dvc remote", "report recipients", "git identity"):
        assert later in names, names
    table = format_table(checks)
    assert table.splitlines()[-1].startswith(f"{sum(c.status == FAIL for c in checks)} failed")


def test_the_project_turns_dvc_analytics_off(tmp_path):
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    assert config.get("core", "analytics") == "false"
    shutil.copytree(REPO / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp", "config.local"))
    env = {k: v for k, v in tool_env().items() if k != "DVC_NO_ANALYTICS"}
    shown = subprocess.run(["dvc", "config", "core.analytics"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.stdout.strip() == "false", shown.stderr
