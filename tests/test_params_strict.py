"""params.yaml read as DVC reads it (YAML 1.2, no duplicate keys), and nothing in it that no stage can use.

Each bad file gives one line naming the file, the `section.key` (or line) and what is allowed.
"""

import dataclasses
import sys
import time
import typing

import pytest
import yaml
from helpers import REPO, new_project, sh

from faceops.core.errors import FaceopsError
from faceops.core.params import Params, load_params


def _write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


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


def _numeric_fields(cls=Params, prefix=""):
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            yield from _numeric_fields(hint, f"{prefix}{field.name}.")
        elif hint in (int, float) or set(typing.get_args(hint)) == {int, type(None)}:
            yield f"{prefix}{field.name}", int if int in (hint, *typing.get_args(hint)) else float


CANDIDATES = {
    float: [1e-05, 3e-07, 0.00001, 0.0003, 1.5e-3, 0.05, 0.25, 0.6, 1.0, 1.25, 1.5, 2.0, 30.0, 44.5, 1e3],
    int: [0, 1, 2, 3, 5, 17, 25, 80, 512, 587, 4096, 123456],
}


def test_every_numeric_param_round_trips_through_dvcs_set_writer(tmp_path):
    """`dvc exp run -S key=value` writes params.yaml with dvc.utils.hydra.apply_overrides (DVC's own writer,
    called here as `dvc exp run` calls it); whatever it writes, the loader reads back as the same number."""
    from dvc.utils.hydra import apply_overrides

    base = (REPO / "params.yaml").read_text()  # the file itself, comments and all, as DVC meets it
    checked = []
    for key, kind in _numeric_fields():
        accepted = 0
        for value in CANDIDATES[kind]:
            path = _write(tmp_path, base)
            apply_overrides(str(path), [f"{key}={value!r}"])
            try:
                params = load_params(path)
            except FaceopsError as exc:
                assert "allowed" in str(exc), f"{key}={value!r}: {exc}"  # out of range only, never a type error
                continue
            section, *rest = key.split(".")
            found = getattr(params, section)
            for part in rest:
                found = getattr(found, part)
            assert found == value and type(found) is kind, f"{key}={value!r} read back as {found!r}"
            accepted += 1
        assert accepted, f"{key}: no candidate value is in range; add one"
        checked.append(key)
    assert {"train.learning_rate", "base.seed", "train.epochs", "promote.min_metric"} <= set(checked)


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
    "text, expected",
    [
        ("train:\n  learning_rate: 0\n", "error: params.yaml: train.learning_rate is 0.0; allowed"),
        ("traing:\n  epochs: 3\n", "error: params.yaml: unknown section traing (did you mean train?"),
    ],
)
def test_dvc_repro_stops_at_the_params_stage(tmp_path, text, expected):
    """A real `dvc repro`: the params stage fails first, so no other stage starts (none deletes its outputs)."""
    project = new_project(tmp_path / "repo")
    (project / "params.yaml").write_text(_merge(project / "params.yaml", text))
    result = sh("dvc", "repro", cwd=project, check=False)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Running stage 'faces'" not in result.stdout + result.stderr


def _merge(path, text):
    data = yaml.safe_load(path.read_text())
    for section, values in yaml.safe_load(text).items():
        data.setdefault(section, {}).update(values)
    return yaml.safe_dump(data, sort_keys=False)
