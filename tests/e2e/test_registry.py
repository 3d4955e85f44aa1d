"""Model versions on GTO: every promotion a version, `faceops models` lists them, `faceops rollback` restores one."""

import hashlib
import json
import urllib.request

import pytest
import yaml
from helpers import make_project, sh, write_params
from support.serve import start_server, stop_server

from faceops.model.card import ModelCard
from faceops.release.receipts import Receipt


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served_version(url):
    return json.loads(urllib.request.urlopen(url + "/model").read())["version"]


def _train_and_register(path, message):
    sh("dvc", "repro", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", message, cwd=path)
    return sh("faceops", "models", "--register", cwd=path).stdout


@pytest.mark.slow
def test_versions_rollback_and_back_in_a_real_repository(tmp_path, lfw):
    path = make_project(tmp_path / "repo", lfw, people=3, images=12)
    assert _train_and_register(path, "first model").startswith("registered v1.0.0, stage live")
    first = {name: _sha(path / name) for name in ("models/model.keras", "models/model.json")}
    assert "HEAD's live model is registered already" in sh("faceops", "models", "--register", cwd=path).stdout
    write_params(path, {"train": {"epochs": 3}})
    assert _train_and_register(path, "second model").startswith("registered v2.0.0, stage live")
    second = {name: _sha(path / name) for name in first}
    assert second != first

    sh("dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"), cwd=path)
    sh("dvc", "push", "-q", cwd=path)
    listed = json.loads(sh("faceops", "models", "--json", cwd=path).stdout)
    assert [(v["version"], v["live"]) for v in listed] == [("v2.0.0", True), ("v1.0.0", False)]
    assert all(v["accuracy"] is not None and v["people"] == 3 and len(v["data_version"]) == 8 for v in listed)
    table = sh("faceops", "models", cwd=path).stdout.splitlines()
    assert table[0].split() == ["version", "date", "accuracy", "FAR", "FRR", "people", "data", "live"]
    assert table[1].startswith("v2.0.0") and table[1].endswith("live") and not table[2].endswith("live")
    assert "model" in sh("gto", "show", cwd=path).stdout

    serve, url = start_server(path)  # the service reloads the model files when they change: a rollback too
    before = _served_version(url)
    rolled = sh("faceops", "rollback", cwd=path)  # no version: the one before the live one
    assert rolled.stdout.startswith("v1.0.0 is live again")
    assert _served_version(url) == ModelCard.read(path / "models/model.json").version != before
    stop_server(serve)
    assert {name: _sha(path / name) for name in first} == first
    assert [v["live"] for v in json.loads(sh("faceops", "models", "--json", cwd=path).stdout)] == [False, True]
    live_rows = [row for row in sh("gto", "show", "model", cwd=path).stdout.splitlines() if " live " in row]
    assert len(live_rows) == 1 and "v1.0.0" in live_rows[0]  # GTO itself says so
    sh("dvc", "repro", cwd=path)  # dvc.lock records the restored model: the newer candidate is not promoted again
    assert {name: _sha(path / name) for name in first} == first
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "roll back to v1.0.0", cwd=path)

    # v2.0.0's files only on the DVC remote (pushed when it was live): rollback fetches them.
    for name in ("models/model.keras", "models/model.json"):
        lock = yaml.safe_load(sh("git", "show", "model@v2.0.0:dvc.lock", cwd=path).stdout)
        md5 = next(o["md5"] for o in lock["stages"]["evaluate"]["outs"] if o["path"] == name)
        (path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).unlink()
    sh("faceops", "rollback", "v2.0.0", cwd=path)
    assert {name: _sha(path / name) for name in first} == second
    assert [v["live"] for v in json.loads(sh("faceops", "models", "--json", cwd=path).stdout)] == [True, False]

    unknown = sh("faceops", "rollback", "v9.9.9", cwd=path, check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: model version 'v9.9.9' is not registered; known: v2.0.0, v1.0.0"

    # A version that names a person forgotten since (faceops forget's receipt) never goes live again.
    person = json.loads((path / "models/model.json").read_text())["labels"][0]
    Receipt(person, "2026-12-02T00:00:00Z", "2026-12-02T00:10:00Z", [], [], "promoted", True).write(path)
    refused = sh("faceops", "rollback", "v1.0.0", cwd=path, check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        f"error: v1.0.0 was trained on {person}, forgotten since (receipts/forget-*.json): it cannot be made live "
        "again; train a new model with `dvc repro`"
    )
    assert {name: _sha(path / name) for name in first} == second
