"""params.yaml read as DVC reads it (YAML 1.2, no duplicate keys), and nothing in it that no stage can use.

Each bad file gives one line naming the file, the `section.key` (or line) and what is allowed.
"""

import dataclasses
import typing

import pytest
import yaml
from helpers import REPO, new_project, sh
from support.params_strict import _write

from faceops.core.errors import FaceopsError
from faceops.core.params import Params, load_params


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
