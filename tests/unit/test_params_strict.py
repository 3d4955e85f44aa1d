"""params.yaml read as DVC reads it (YAML 1.2, no duplicate keys), and nothing in it that no stage can use.

Each bad file gives one line naming the file, the `section.key` (or line) and what is allowed.
"""

import sys
import time

import pytest
import yaml
from helpers import REPO, sh
from support.params_strict import _write

from faceops.core.errors import FaceopsError
from faceops.core.params import load_params


def _refused(path):
    with pytest.raises(FaceopsError) as caught:
        load_params(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_duplicate_key_is_refused_with_its_line(tmp_path):
    path = _write(tmp_path, "train:\n  epochs: 40\n  batch_size: 32\n  epochs: 3\n")
    assert "line 4: duplicate key 'epochs'" in _refused(path)


def test_duplicate_section_is_refused(tmp_path):
    path = _write(tmp_path, "train:\n  epochs: 40\ntrain:\n  epochs: 3\n")
    assert "duplicate key 'train'" in _refused(path)


def test_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(9)]
    path = _write(tmp_path, "retrain:\n  schedule:\n" + "".join(f"    - {line}\n" for line in lines))
    started = time.perf_counter()
    message = _refused(path)
    assert time.perf_counter() - started < 2
    assert "anchors and aliases (&, *) are not allowed" in message and "line 3" in message


@pytest.mark.parametrize("section, value", [("train", "[1, 2]"), ("faces", "7"), ("base", "hog")])
def test_a_section_that_is_not_a_mapping_is_one_line(tmp_path, section, value):
    message = _refused(_write(tmp_path, f"{section}: {value}\n"))
    assert f"{section} is " in message and "allowed: a section of `key: value` lines" in message


def test_negative_seed_is_refused_by_the_loader(tmp_path):
    assert "base.seed is -1; allowed: 0 to 4294967295" in _refused(_write(tmp_path, "base:\n  seed: -1\n"))


def test_misspelled_section_says_did_you_mean(tmp_path):
    message = _refused(_write(tmp_path, "traing:\n  epochs: 3\n"))
    assert "unknown section traing (did you mean train?" in message


def test_misspelled_key_says_did_you_mean(tmp_path):
    assert "did you mean train.epochs?" in _refused(_write(tmp_path, "train:\n  epoch: 3\n"))


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("{name: a, set: {train.epoch: 80}}", "retrain.schedule[0] (a): unknown setting train.epoch (did you mean"),
        ("{name: a, set: {train.learning_rate: 0}}", "retrain.schedule[0] (a): train.learning_rate is 0.0; allowed"),
        ("{name: a, set: {traing.epochs: 80}}", "retrain.schedule[0] (a): unknown section traing"),
        ("{name: a, set: {epochs: 80}}", "retrain.schedule[0] (a): epochs is not a setting; allowed: section.key"),
        ("{name: a, set: {train.epochs: 80}, sets: 1}", "retrain.schedule[0].sets is 1; allowed: only name and set"),
        ("{name: a, set: {train.backbone: resnet}}", "train.backbone is 'resnet', expected one of"),
    ],
)
def test_every_schedule_entry_is_checked_as_a_whole_params_file(tmp_path, entry, expected):
    assert expected in _refused(_write(tmp_path, f"retrain:\n  schedule:\n    - {entry}\n"))


def test_entries_past_max_attempts_are_checked_too(tmp_path):
    text = "retrain:\n  max_attempts: 1\n  schedule:\n    - {name: a, set: {}}\n"
    text += "    - {name: b, set: {train.epochs: 0}}\n"
    assert "retrain.schedule[1] (b): train.epochs is 0; allowed: 1 to 10000" in _refused(_write(tmp_path, text))


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("train:\n  learning_rate: 1e-05\n", "learning_rate", 1e-05),
        ("train:\n  learning_rate: 3E-4\n", "learning_rate", 3e-4),
        ("train:\n  epochs: 017\n", "epochs", 17),  # YAML 1.1 would read octal 15
        ("train:\n  epochs: 0x20\n", "epochs", 32),
    ],
)
def test_numbers_are_read_as_yaml_1_2_reads_them(tmp_path, text, key, value):
    assert getattr(load_params(_write(tmp_path, text)).train, key) == value


def test_yes_is_a_string_as_in_yaml_1_2(tmp_path):
    message = _refused(_write(tmp_path, "train:\n  augment:\n    flip: yes\n"))
    assert "train.augment.flip is 'yes', expected" in message


def test_the_params_stage_comes_before_every_other_stage():
    """DVC deletes a stage's outputs only when it runs it; every stage runs after the params check."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "params.yaml" in pipeline["params"]["deps"]
    producers = {
        next(iter(out)) if isinstance(out, dict) else out: name
        for name, stage in pipeline.items()
        for kind in ("outs", "metrics", "plots")
        for out in stage.get(kind, [])
    }

    def ancestors(name):
        found = set()
        for dep in pipeline[name]["deps"]:
            parent = producers.get(dep.split("#")[0].strip())
            if parent and parent not in found:
                found |= {parent} | ancestors(parent)
        return found

    for name in set(pipeline) - {"params"}:
        assert "params" in ancestors(name), f"stage {name} can run before the params check"


def test_params_check_output_is_the_same_for_any_valid_file(tmp_path):
    """So a passing check after an edit re-runs nothing downstream by itself."""
    outputs = []
    for epochs in (3, 50):
        params = _write(tmp_path, f"train:\n  epochs: {epochs}\n")
        out = tmp_path / f"check{epochs}.json"
        sh(sys.executable, "-m", "stages.check_params", "--params", str(params), "--out", str(out), cwd=REPO)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "train:\n\tepochs: 2\n",
            "not valid YAML (line 2, column 1: found character '\\t' that cannot start any token)",
        ),
        ("train: [1, 2\n", "not valid YAML (line 2, column 1: expected ',' or ']', but got '<stream end>')"),
        (b"train:\n  # caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 14)"),
    ],
)
def test_a_file_yaml_cannot_read_is_one_line_saying_where(tmp_path, text, expected):
    """A tab, an unclosed list or a Latin-1 byte: PyYAML's report was several lines, a Latin-1 byte a traceback."""
    path = tmp_path / "params.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert _refused(path) == f"{path}: {expected}"


def test_a_params_path_that_is_a_folder_is_one_line(tmp_path):
    (tmp_path / "params.yaml").mkdir()
    assert (
        _refused(tmp_path / "params.yaml")
        == f"{tmp_path / 'params.yaml'}: cannot be read (Is a directory); it must be a YAML file"
    )
