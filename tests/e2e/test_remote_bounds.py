"""Faults degrade, never corrupt: a bucket or DVC remote that refuses connections, or accepts and never answers,
is a one-line error within FACEOPS_REMOTE_SECONDS (record store, `faceops forget`), never a hang."""

from __future__ import annotations

import subprocess
import time

import pytest
from helpers import ACCESS_KEY, SECRET_KEY, make_project, sh, tool_env
from support.remote_bounds import BOUND

from faceops.core import dvc


def _journal(project) -> list:
    return sorted(p.name for p in (project / ".faceops/forget").glob("*.json"))


@pytest.mark.slow
def test_forget_against_a_remote_that_hangs_stops_with_one_line_and_a_rerun_finishes(tmp_path, lfw, s3, silent):
    project = make_project(tmp_path / "repo", lfw, people=3, images=3)
    person = sorted(path.name for path in (project / "dataset/raw").iterdir())[0]
    sh("dvc", "remote", "add", "--local", "--default", "store", "s3://faces/forget-bounds", cwd=project)
    env = tool_env() | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    env |= {dvc.REMOTE_SECONDS_VARIABLE: str(BOUND)}

    def endpoint(url: str) -> None:
        sh("dvc", "remote", "modify", "--local", "store", "endpointurl", url, cwd=project)

    endpoint(s3)
    sh("dvc", "push", "-q", cwd=project, env=env)
    forget = ("faceops", "forget", "--person", person, "--yes", "--no-retrain")

    endpoint(silent)  # from the start: nothing changes, within the bound
    started = time.monotonic()
    first = sh(*forget, cwd=project, check=False, env=env)
    assert time.monotonic() - started < 60  # a faceops process with DVC and TensorFlow imports, and the bound
    [line] = first.stderr.strip().splitlines()
    assert first.returncode == 1 and "the DVC remote 'store' is not reachable" in line and "nothing was changed" in line
    assert "did not answer within 3 s" in line and _journal(project) == []

    endpoint(s3)  # journaled: stopped after the caches, before the remote's objects
    pause = env | {"FACEOPS_FORGET_PAUSE_AFTER": "crop and feature caches"}
    process = subprocess.Popen([*forget], cwd=project, env=pause, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if line.startswith("paused after"):
            break
    process.kill()
    process.wait(timeout=30)
    assert _journal(project) == [f"{person}.json"]

    endpoint(silent)  # the remote now hangs: one line, the journal stays
    second = sh(*forget, cwd=project, check=False, env=env)
    *notes, line = second.stderr.strip().splitlines()
    assert [note.split(" (PID")[0] for note in notes] == [
        "note: took over the project lock left by `faceops forget`"
    ], second.stderr
    assert second.returncode == 1 and "did not answer within 3 s (FACEOPS_REMOTE_SECONDS)" in line
    assert "the forget is journaled" in line and _journal(project) == [f"{person}.json"]

    endpoint(s3)  # it answers again: the rerun finishes the job
    third = sh(*forget, cwd=project, check=False, env=env)
    assert third.returncode == 0, third.stderr
    assert _journal(project) == [] and list((project / "receipts").glob(f"forget-{person}-*.json"))


@pytest.mark.slow
def test_rollback_against_a_remote_that_hangs_stops_with_one_line_and_the_live_model_keeps_serving(
    tmp_path, lfw, silent
):
    import hashlib
    import json
    import urllib.request

    import yaml
    from support.remote_bounds import hanging_remote
    from support.serve import start_server, stop_server

    project = make_project(tmp_path / "repo", lfw, people=3, images=6)
    sh("dvc", "repro", "--quiet", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "first model", cwd=project)
    sh("faceops", "models", "--register", cwd=project)  # v1.0.0, live
    # v2.0.0: a commit whose dvc.lock names a model and card this machine never had (only "on the remote").
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for out in lock["stages"]["evaluate"]["outs"]:
        if out["path"] in ("models/model.keras", "models/model.json"):
            out["md5"] = hashlib.md5(out["md5"].encode(), usedforsecurity=False).hexdigest()
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    sh("git", "commit", "-qam", "a model kept only on the remote", cwd=project)
    sh("gto", "register", "model", "HEAD", "--version", "v2.0.0", cwd=project)
    env = hanging_remote(project, silent)
    live = {name: (project / name).read_bytes() for name in ("models/model.keras", "models/model.json")}

    def served() -> str:
        return json.loads(urllib.request.urlopen(url + "/model", timeout=10).read())["version"]

    serve, url = start_server(project)
    try:
        before = served()
        started = time.monotonic()
        rolled = sh("faceops", "rollback", "v2.0.0", cwd=project, check=False, env=env)
        assert time.monotonic() - started < 60  # a faceops process with DVC imports, and the bound
        [line] = rolled.stderr.strip().splitlines()
        assert rolled.returncode == 1 and line.startswith("error: v2.0.0: models/model.keras, models/model.json")
        assert "the DVC remote 'store' did not answer within 3 s (FACEOPS_TRANSFER_SECONDS)" in line
        assert line.endswith("nothing was changed")
        assert served() == before  # still answering, with the same model
    finally:
        stop_server(serve)
    assert {name: (project / name).read_bytes() for name in live} == live
    listed = json.loads(sh("faceops", "models", "--json", cwd=project).stdout)
    assert [(v["version"], v["live"]) for v in listed] == [("v2.0.0", False), ("v1.0.0", True)]
