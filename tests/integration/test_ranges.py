"""Paths and numbers that cannot be right are errors: one line naming the value and what is allowed."""

import json
import shutil
import subprocess

import pytest
from helpers import REPO, tool_env


def _faceops(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["faceops", *args],
        cwd=cwd,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["capture", "--person", "Ann", "--every", "0"],
            "argument --every: '0' is not allowed; give a whole number of 1 or more",
        ),
        (
            ["capture", "--person", "Ann", "--count", "-3"],
            "argument --count: '-3' is not allowed; give a whole number of 1 or more",
        ),
        (["enrol", "--person", "Ann", "--min-face", "0"], "argument --min-face: '0' is not allowed"),
        (
            ["capture", "--person", "Ann", "--min-sharpness", "nan"],
            "argument --min-sharpness: 'nan' is not allowed; give a number of 0 or more",
        ),
        (
            ["capture", "--person", "Ann", "--min-difference", "65"],
            "argument --min-difference: '65' is not allowed; give a whole number from 0 to 64",
        ),
        (
            ["capture", "--person", "Ann", "--interval", "-1"],
            "argument --interval: '-1' is not allowed; give a number of 0 or more",
        ),
        (["import-folder", "x", "--min-images", "0"], "argument --min-images: '0' is not a whole number of 1 or more"),
        (
            ["import-folder", "x", "--max-people", "-1"],
            "argument --max-people: '-1' is not a whole number of 1 or more",
        ),
        (["import-lfw", "--max-people", "0"], "argument --max-people: '0' is not a whole number of 1 or more"),
        (
            ["import-lfw", "--max-people", "\u00b2"],
            "argument --max-people: '\u00b2' is not a whole number of 1 or more",
        ),
        (["serve", "--port", "70000"], "argument --port: '70000' is not allowed; give a whole number from 1 to 65535"),
        (["retrain", "--threshold", "2.5"], "argument --threshold: '2.5' is not allowed; give a number from 0 to 1"),
        (["report", "--threshold", "nan"], "argument --threshold: 'nan' is not allowed; give a number from 0 to 1"),
        (["monitor", "--min-faces", "0"], "argument --min-faces: '0' is not a whole number of 1 or more"),
        (["monitor", "--max-rise", "inf"], "argument --max-rise: 'inf' is not a number above 0"),
        (["serve", "--header-timeout", "0"], "argument --header-timeout: '0' is not a number above 0"),
    ],
)
def test_numbers_out_of_range_exit_2_naming_value_and_range(tmp_path, args, message):
    result = _faceops(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["monitor"], ["feedback", "list"]])
def test_records_in_a_folder_that_does_not_exist_is_an_error(tmp_path, command):
    result = _faceops(*command, "--records", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--records '{tmp_path / 'nowhere'}': no such folder; allowed: an existing folder" in result.stderr
    assert result.stdout == ""  # no all-clear


@pytest.mark.parametrize("value", ["2.5", "NaN", "-0.1", "true", '"0.95"'])
def test_retrain_refuses_a_metric_that_cannot_be_right(tmp_path, value):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "eval.json").write_text(f'{{"accuracy": {value}}}')
    result = _faceops("retrain", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    shown = repr(json.loads(value))
    if isinstance(json.loads(value), float):  # a number, out of range: retrain's own check
        assert f"metrics/eval.json: accuracy is {shown}; allowed: a number from 0 to 1" in result.stderr
    else:  # not a number at all: the metrics file's reader (faceops.model.metrics)
        assert f"metrics/eval.json: 'accuracy' is {shown}, expected a number" in result.stderr
    assert "PASSED" not in result.stdout
