"""The real `dvc repro` in a temporary git + DVC repository on 4 people x 20 LFW photos."""

import hashlib
import json

import pandas as pd
import pytest
import yaml
from helpers import make_project, sh
from PIL import Image


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    path = make_project(tmp_path_factory.mktemp("pipeline") / "repo", lfw)
    first = sh("dvc", "repro", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "first model", cwd=path)
    return path, first


def _declared_outputs(path):
    pipeline = yaml.safe_load((path / "dvc.yaml").read_text())
    for stage in pipeline["stages"].values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                yield next(iter(entry)) if isinstance(entry, dict) else entry


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _repro_with(path, section, **values):
    """`dvc repro` with some params changed, then params.yaml put back; returns the run and its error lines."""
    params = yaml.safe_load((path / "params.yaml").read_text())
    params[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = sh("dvc", "repro", cwd=path, check=False)
    finally:
        sh("git", "checkout", "--", "params.yaml", cwd=path)
    return result, [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_repro_writes_every_declared_output(project):
    path, first = project
    outputs = list(_declared_outputs(path))
    assert len(outputs) >= 12
    missing = [out for out in outputs if not (path / out).exists()]
    assert not missing
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert 0 <= evaluation["accuracy"] <= 1 and 0 <= evaluation["macro_f1"] <= 1
    assert evaluation["test_faces"] == 20 and evaluation["people"] == 4  # everyone is trained on
    assert evaluation["stranger_faces"] == 60  # every training face, held out in rotation
    assert 0 <= evaluation["far_interval"][0] <= evaluation["false_accept_rate"] <= evaluation["far_interval"][1]
    for rate in ("false_accept_rate", "false_reject_rate", "open_set_accuracy"):
        assert 0 <= evaluation[rate] <= 1
    assert "RANDOM" in evaluation["weights"]
    faces = json.loads((path / "metrics/faces.json").read_text())
    assert faces["photos"] == 80 and faces["faces"] + faces["rejected"] == 80
    for png in ("plots/confusion.png", "plots/train_history.png"):
        with Image.open(path / png) as image:
            assert image.format == "PNG" and image.width > 300
    assert "PROMOTED: accuracy" in first.stdout  # the first candidate goes live
    assert "data validation: 4 people, 80 faces: 12 checks passed" in first.stdout
    assert json.loads((path / "reports/data_validation.json").read_text())["success"] is True
    meta = json.loads((path / "models/model.json").read_text())
    split = pd.read_csv(path / "data/split.csv")
    assert "stranger" not in set(split["subset"])
    assert meta["labels"] == ["Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Tony_Blair"]
    assert meta["image_size"] == 64 and meta["faces"]["margin"] == 0.2
    assert len(meta["open_set"]["centroids"]) == 4 and meta["open_set"]["threshold"] > 0


def test_dvc_reads_the_metrics_and_plots(project):
    path, _ = project
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=path).stdout)
    workspace = next(iter(metrics.values()))["data"]  # keyed "workspace" or "" by DVC version
    assert "accuracy" in workspace["metrics/eval.json"]["data"]
    sh("dvc", "plots", "show", "-o", str(path / ".faceops/plots"), cwd=path)
    html = (path / ".faceops/plots/index.html").read_text()
    assert "Confusion matrix" in html and "Training accuracy" in html


def _params_in(shown) -> list[dict]:
    """Every params.yaml content in `dvc exp show --json` output, wherever it is nested."""
    found = []
    if isinstance(shown, dict):
        data = shown.get("params.yaml", {})
        if isinstance(data, dict) and isinstance(data.get("data"), dict) and "train" in data["data"]:
            found.append(data["data"])
        for value in shown.values():
            found += _params_in(value)
    elif isinstance(shown, list):
        for value in shown:
            found += _params_in(value)
    return found


def test_second_repro_does_nothing(project):
    path, _ = project
    again = sh("dvc", "repro", cwd=path)
    assert "Running stage" not in again.stdout
    assert "up to date" in sh("dvc", "status", cwd=path).stdout


def test_exp_run_changes_only_the_head(project):
    path, _ = project
    result = sh("dvc", "exp", "run", "-S", "train.epochs=3", cwd=path)
    assert "Running stage 'train'" in result.stdout
    assert "Running stage 'faces'" not in result.stdout
    train = json.loads((path / "metrics/train.json").read_text())
    assert train["epochs_run"] == 3
    assert train["cache_misses"] == 0 and train["cache_hits"] > 0  # the base never ran again
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=path).stdout)
    epochs = sorted({params["train"]["epochs"] for params in _params_in(shown)})
    assert epochs == [2, 3]  # the committed baseline and the experiment, as `dvc exp show` lists them
    sh("git", "checkout", "--", "params.yaml", "dvc.lock", "metrics", "plots", "reports", cwd=path)
    sh("dvc", "checkout", "-q", cwd=path)


def test_predict_names_a_face_from_the_cli(project, lfw):
    path, _ = project
    labels = json.loads((path / "models/model.json").read_text())["labels"]
    photo = lfw / "Tony_Blair" / "Tony_Blair_0100.jpg"
    result = sh("faceops", "predict", "--json", str(photo), cwd=path)
    [answer] = json.loads(result.stdout)
    assert answer["photo"] == str(photo)
    assert len(answer["faces"]) >= 1 and answer["faces"][0]["name"] in [*labels, "unknown"]
    assert 0 < answer["faces"][0]["confidence"] <= 1
    wall = path / "wall.png"
    Image.new("RGB", (200, 200), (120, 130, 140)).save(wall)
    text = path / "notes.jpg"
    text.write_text("not a photo")
    result = sh("faceops", "predict", str(wall), str(text), cwd=path, check=False)
    assert result.returncode == 1
    assert f"{wall}: no face found" in result.stdout
    assert result.stderr.strip() == f"error: {text}: not a JPEG, PNG, WebP or BMP image"


def test_missing_weights_file_is_one_line_and_keeps_the_model(project):
    path, _ = project
    before = _sha(path / "models/model.keras")
    result, errors = _repro_with(path, "train", weights="/nowhere/vgg16.h5")
    assert result.returncode != 0
    assert errors == ["error: /nowhere/vgg16.h5: weights file not found (train.weights in params.yaml)"]
    assert "Traceback" not in result.stderr
    assert _sha(path / "models/model.keras") == before


def test_failed_validation_stops_before_training(project):
    path, _ = project
    before = _sha(path / "models/model.keras")
    result, errors = _repro_with(path, "validate", min_images_per_person=50, warn_images_per_person=50)
    assert result.returncode != 0
    assert errors == [
        "error: data validation: found 0 people with at least 50 face images (validate.min_images_per_person): "
        "nobody; need at least 1 (validate.min_people)"
    ]
    assert "FAIL  enough people" in result.stdout and "WARN  enough images per person" in result.stdout
    assert "Running stage 'train'" not in result.stdout
    report = json.loads((path / "reports/data_validation.json").read_text())
    assert report["success"] is False and report["failed"] == 1
    assert _sha(path / "models/model.keras") == before
    sh("git", "checkout", "--", "reports", cwd=path)


def test_hidden_person_folder_stops_the_faces_stage(project, lfw):
    path, _ = project
    hidden = path / "dataset/raw/.Tony"
    hidden.mkdir()
    (hidden / "a.jpg").write_bytes((lfw / "Tony_Blair" / "Tony_Blair_0001.jpg").read_bytes())
    try:
        result = sh("dvc", "repro", cwd=path, check=False)
    finally:
        (hidden / "a.jpg").unlink()
        hidden.rmdir()
    assert result.returncode != 0
    assert "error: dataset/raw/.Tony: person name '.Tony' is hidden (starts with '.')" in result.stderr
    assert (path / "models/model.keras").exists()  # the last model stays in place


def test_capture_then_repro_computes_features_for_the_new_faces_mostly(project, lfw, tmp_path):
    path, _ = project
    sh("dvc", "repro", cwd=path)  # back to a complete state after the failure tests
    person = json.loads((path / "models/model.json").read_text())["labels"][0]  # someone trained on
    photos = tmp_path / "more"
    photos.mkdir()
    for photo in sorted((lfw / person).iterdir())[30:36]:  # not among the 20 imported
        (photos / photo.name).write_bytes(photo.read_bytes())
    captured = sh("faceops", "capture", "--person", person, "--source", str(photos), "--commit", cwd=path)
    saved = int(captured.stdout.split()[0])
    assert saved >= 4 and "committed" in captured.stdout
    result = sh("dvc", "repro", cwd=path)
    assert "Running stage 'train'" in result.stdout
    train = json.loads((path / "metrics/train.json").read_text())
    # each new face and its mirror, plus the odd face that the grown split moves into the training set
    assert 0 < train["cache_misses"] <= 2 * saved + 4
    sh("git", "reset", "-q", "--hard", "HEAD~1", cwd=path)
    sh("dvc", "checkout", "-q", "--force", cwd=path)
