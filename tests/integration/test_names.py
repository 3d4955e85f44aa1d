"""One person-name type at every door: the rules, one person per NFC + case-folded spelling, exit 2 on the CLI."""

import os
import shutil
import subprocess
import sys
import unicodedata

import pytest
from helpers import REPO, sh, tool_env
from support.names import NFC_JOSE, NFD_JOSE

from faceops.core.errors import UsageError
from faceops.data.dataset import import_folder, list_raw_files


def _faceops(*args: str, cwd) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "faceops.cli.main", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["forget", "--person", "*"], "argument --person: person name '*' contains a glob character"),
        (["capture", "--person", "Ann\x1bX", "--source", "."], "contains a control character (U+001B)"),
        (["enrol", "--person", "\u202eAnn", "--source", "."], "contains an invisible format character (U+202E)"),
        (["capture", "--person", "x" * 300, "--source", "."], "has 300 characters, at most 100"),
    ],
)
def test_bad_names_on_the_command_line_exit_2(tmp_path, args, message):
    result = _faceops(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_import_refuses_a_second_spelling_in_the_source(tmp_path, lfw_photo):
    source = tmp_path / "source"
    for name in (NFD_JOSE, "JOSÉ"):
        (source / name).mkdir(parents=True)
        shutil.copy(lfw_photo, source / name / "a.jpg")
    result = _faceops("import-folder", str(source), "--dest", str(tmp_path / "raw"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "'José' is another spelling of the existing person 'JOSÉ'" in result.stderr
    assert not (tmp_path / "raw").exists()


def test_import_refuses_a_second_spelling_of_someone_in_the_data_set(tmp_path, lfw_photo):
    source, raw = tmp_path / "source", tmp_path / "raw"
    (raw / NFC_JOSE).mkdir(parents=True)
    (source / NFD_JOSE.lower()).mkdir(parents=True)
    shutil.copy(lfw_photo, source / NFD_JOSE.lower() / "a.jpg")
    with pytest.raises(UsageError, match="another spelling of the existing person 'José'"):
        import_folder(source, raw)


def test_import_keeps_a_name_in_nfc(tmp_path, lfw_photo):
    source, raw = tmp_path / "source", tmp_path / "raw"
    (source / NFD_JOSE).mkdir(parents=True)
    shutil.copy(lfw_photo, source / NFD_JOSE / "a.jpg")
    import_folder(source, raw)
    assert [p.name for p in raw.iterdir()] == [NFC_JOSE]


def test_import_refuses_a_folder_name_with_a_carriage_return(tmp_path, lfw_photo):
    (tmp_path / "source" / "Ann\rX").mkdir(parents=True)
    shutil.copy(lfw_photo, tmp_path / "source" / "Ann\rX" / "a.jpg")
    result = _faceops("import-folder", str(tmp_path / "source"), "--dest", str(tmp_path / "raw"), cwd=tmp_path)
    assert result.returncode == 2 and "contains a control character (U+000D)" in result.stderr


def test_the_data_set_refuses_two_spellings_and_non_nfc_folders(tmp_path, lfw_photo):
    for name in (NFC_JOSE, "JOSÉ"):
        (tmp_path / name).mkdir()
        shutil.copy(lfw_photo, tmp_path / name / "a.jpg")
    with pytest.raises(UsageError, match="'José' is another spelling of the existing person 'JOSÉ'"):
        list_raw_files(tmp_path)
    shutil.rmtree(tmp_path / "JOSÉ")
    (tmp_path / NFC_JOSE).rename(tmp_path / NFD_JOSE)
    assert unicodedata.is_normalized("NFD", os.listdir(tmp_path)[0])
    with pytest.raises(UsageError, match="not in Unicode NFC form; rename it to 'José'"):
        list_raw_files(tmp_path)


def test_forget_with_another_spelling_names_the_person(tmp_path, lfw_photo):
    sh("git", "init", "-q", cwd=tmp_path)
    sh("dvc", "init", "-q", cwd=tmp_path, env=tool_env())
    (tmp_path / "dataset" / "raw" / NFC_JOSE).mkdir(parents=True)
    shutil.copy(lfw_photo, tmp_path / "dataset" / "raw" / NFC_JOSE / "a.jpg")
    result = subprocess.run(
        ["faceops", "forget", "--person", "JOSE\u0301", "--no-remote"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--person: 'JOSÉ' is another spelling of the existing person 'José'" in result.stderr


def test_capture_refuses_a_second_spelling_of_someone_in_the_data_set(tmp_path, lfw_photo):
    (tmp_path / "raw" / NFC_JOSE).mkdir(parents=True)
    (tmp_path / "photos").mkdir()
    shutil.copy(lfw_photo, tmp_path / "photos" / "a.jpg")
    result = subprocess.run(
        ["faceops", "capture", "--person", "josé", "--source", "photos", "--dest", "raw"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--person: 'josé' is another spelling of the existing person 'José'" in result.stderr
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [NFC_JOSE]
