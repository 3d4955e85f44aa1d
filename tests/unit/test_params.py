"""params.yaml and model.json as typed contracts: every bad value is refused with one line naming it."""

import json
import typing

import pytest
import yaml
from helpers import REPO, committed_params

from faceops.core.errors import FaceopsError
from faceops.core.params import Params, load_params
from faceops.model.card import ModelCard

# (section, key, bad value, what the message must say is allowed)
BAD_SETTINGS = [
    ("base", "image_size", 8, "32 to 512 pixels"),
    ("faces", "margin", -1, "0 to 1"),
    ("faces", "detector", "mtcnn", "one of 'haar', 'hog', 'cnn'"),
    ("faces", "scale_factor", 1.0, "more than 1, at most 2"),
    ("faces", "min_neighbors", -2, "0 to 50"),
    ("faces", "min_face_size", 0, "8 to 4096 pixels"),
    ("faces", "multiple_faces", "all", "one of 'largest', 'reject'"),
    ("validate", "min_people", 0, "1 or more"),
    ("validate", "min_images_per_person", 1, "2 or more"),
    ("validate", "max_imbalance", 0.5, "1 or more"),
    ("validate", "max_rejected_share", 1.5, "0 to 1"),
    ("split", "test_size", 0.9, "0.05 to 0.5"),
    ("split", "strangers", 0, "1 to 20 people"),
    ("train", "backbone", "resnet50", "one of 'vgg16', 'dlib_resnet'"),
    ("train", "head", "svm", "one of 'auto', 'dense', 'logistic'"),
    ("train", "epochs", 0, "1 to 10000"),
    ("train", "batch_size", 0, "1 to 8192"),
    ("train", "learning_rate", 0, "more than 0, at most 1"),
    ("train", "learning_rate", -0.1, "more than 0, at most 1"),
    ("train", "dense_units", 0, "1 to 8192"),
    ("train", "dropout", 1.0, "0 up to (not including) 1"),
    ("train", "activation", "swish2", "one of 'relu'"),
    ("train", "validation_share", 0.9, "0 to 0.5"),
    ("train", "early_stopping_patience", -1, "0 (off) or more epochs"),
    ("train", "head", "svm", "one of 'auto', 'dense', 'logistic', 'sklearn_logistic', 'centroid'"),
    ("train", "class_weights", "auto", "one of 'balanced', 'none'"),
    ("promote", "min_metric", 1.5, "0 to 1"),
    ("promote", "max_false_accept_rate", -0.1, "0 to 1"),
    ("promote", "max_recall_drop", 2, "0 to 1"),
    ("retrain", "threshold", 1.01, "more than 0, at most 1"),
    ("retrain", "metric", "precision", "one of 'accuracy'"),
    ("retrain", "max_attempts", -1, "0 to 50"),
    ("retrain", "schedule", [{"set": {"train.epochs": 3}}], "a name and a set of overrides"),
    ("report", "recipients", ["not an address"], "e-mail addresses"),
    ("report", "smtp_port", 70000, "1 to 65535"),
    ("report", "smtp_security", "tls", "one of 'starttls', 'ssl', 'none'"),
]


def test_a_bad_target_far_is_named_with_its_section(tmp_path):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["train"]["unknown"]["target_far"] = 0.7
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(FaceopsError) as caught:
        load_params(tmp_path / "params.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'params.yaml'}: train.unknown.target_far is 0.7; allowed: more than 0, less than 0.5"
    )


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(committed_params()))
    return path


def _with(path, section, key, value):
    data = yaml.safe_load(path.read_text())
    data[section][key] = value
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(("section", "key", "value", "allowed"), BAD_SETTINGS, ids=lambda v: str(v)[:20])
def test_every_bad_setting_is_one_line_naming_it(params_file, section, key, value, allowed):
    _with(params_file, section, key, value)
    with pytest.raises(FaceopsError) as caught:
        load_params(params_file)
    message = str(caught.value)
    shown = repr(value[0]) if isinstance(value, list) else repr(value)  # a list names its bad item
    assert message.startswith(f"{params_file}: {section}.{key}"), message
    assert shown in message, message
    assert allowed in message and "\n" not in message


def test_nested_setting_is_named_in_full(params_file):
    data = yaml.safe_load(params_file.read_text())
    data["train"]["augment"]["copies"] = -1
    params_file.write_text(yaml.safe_dump(data))
    with pytest.raises(FaceopsError, match=r"train\.augment\.copies is -1; allowed: 0 to 10$"):
        load_params(params_file)
    data["train"]["augment"].update(copies=0, flip="sometimes")
    params_file.write_text(yaml.safe_dump(data))
    with pytest.raises(FaceopsError, match=r"train\.augment\.flip is 'sometimes', expected bool or one of 'auto'$"):
        load_params(params_file)


def test_misspelt_section_and_key_are_refused(params_file):
    data = yaml.safe_load(params_file.read_text())
    data["trian"] = {"epochs": 3}
    params_file.write_text(yaml.safe_dump(data))
    with pytest.raises(
        FaceopsError, match=r"unknown section trian \(did you mean train\? known: base, faces, promote, report, retrain"
    ):
        load_params(params_file)
    del data["trian"]
    data["train"]["epoch"] = 3
    params_file.write_text(yaml.safe_dump(data))
    with pytest.raises(
        FaceopsError, match=r"unknown setting train\.epoch \(did you mean train\.epochs\? known: activation"
    ):
        load_params(params_file)


def test_params_file_spells_out_every_setting():
    """The dataclasses hold the defaults and checks; params.yaml names every setting (no hidden ones) and loads."""
    import dataclasses

    def keys(cls, prefix=""):
        found = set()
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            found |= keys(hint, f"{prefix}{f.name}.") if dataclasses.is_dataclass(hint) else {prefix + f.name}
        return found

    def spelled(mapping, prefix=""):
        found = set()
        for key, value in mapping.items():
            nested = isinstance(value, dict) and key not in ("set",) and prefix.count(".") < 2 and key != "schedule"
            found |= spelled(value, f"{prefix}{key}.") if nested else {prefix + key}
        return found

    committed = committed_params()
    assert spelled(committed) == keys(Params)
    assert load_params(REPO / "params.yaml") is not None


def test_cli_threshold_override_is_checked_too(params_file):
    with pytest.raises(FaceopsError, match=r"retrain\.threshold is 2\.0; allowed"):
        load_params(params_file, {"retrain": {"threshold": 2.0}})


def _card_data():
    return {
        "labels": ["Ann", "Bob"],
        "backbone": "dlib_resnet",
        "weights": None,
        "weights_description": "dlib ResNet v1",
        "weights_identity": None,
        "feature_key": "dlib_resnet|resnet_v1|64|margin0.2",
        "image_size": 64,
        "n_features": 2,
        "train_faces": 10,
        "faces": {"margin": 0.2},
        "train": {"backbone": "dlib_resnet"},
        "open_set": {
            "threshold": 0.4,
            "centroids": [[1.0, 0.0], [0.0, 1.0]],
            "target_far": 0.01,
            "expected_far": 0.009,
            "expected_frr": 0.02,
            "impostor_faces": 200,
        },
    }


def test_model_card_round_trip(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_card_data()))
    card = ModelCard.read(path)
    assert card.labels == ("Ann", "Bob") and card.faces.margin == 0.2 and card.open_set.centroids[1] == (0.0, 1.0)
    card.write(tmp_path / "again.json")
    assert ModelCard.read(tmp_path / "again.json") == card


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.clear(), r"model\.json: not a model card of this faceops: labels, backbone, .* missing"),
        (lambda d: d.update(labels=["Ann", "Ann"]), r"labels is \['Ann', 'Ann'\]; allowed: one or more distinct names"),
        (lambda d: d["open_set"].update(centroids=[[1.0, 0.0]]), r"open_set\.centroids has 1 rows"),
        (lambda d: d.update(backbone="resnet"), r"backbone is 'resnet', expected one of"),
        (lambda d: d["faces"].update(margin="wide"), r"faces\.margin is 'wide', expected float"),
        (lambda d: d.update(format=9), r"schema_version is 9; allowed: 1 to 2 \(written by a newer faceops"),
    ],
    ids=["empty", "same-label", "centroids", "backbone", "margin", "format"],
)
def test_damaged_model_card_is_one_line_naming_the_file(tmp_path, change, message):
    data = _card_data()
    change(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FaceopsError, match=message) as caught:
        ModelCard.read(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_stages_are_importable_modules_with_their_own_names():
    import importlib

    stage_names = {p.stem for p in (REPO / "stages").glob("*.py")} - {"__init__"}
    for name in stage_names:
        assert callable(importlib.import_module(f"stages.{name}").main)
    assert not stage_names & {p.stem for p in (REPO / "faceops").rglob("*.py")}, "stages/ and faceops/ share names"


def test_code_is_lint_clean():
    """ruff check and ruff format --check, as `make lint` runs them."""
    import shutil
    import subprocess

    from helpers import tool_env

    ruff = shutil.which("ruff", path=tool_env()["PATH"])
    assert ruff, "ruff is not installed: make install"
    for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
