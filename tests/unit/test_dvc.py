"""faceops.core.dvc: the one door to DVC checks the installed version against the range pyproject.toml pins."""

import re

import pytest
from helpers import REPO

from faceops.core import dvc
from faceops.core.errors import FaceopsError
from faceops.ops.doctor import FAIL, OK, check_dvc


def test_the_supported_range_is_the_one_pyproject_pins():
    pins = re.findall(r'"dvc\[s3\]([^"]*)"', (REPO / "pyproject.toml").read_text())
    assert pins == [dvc.SUPPORTED]


@pytest.mark.parametrize("version", ["3.50.0", "3.67.1", "3.99.0rc1"])
def test_a_version_in_the_range_is_used(version):
    assert dvc.check_version(lambda: version) == version


@pytest.mark.parametrize("version", ["4.0.0", "2.58.2", "3.49.9", "nightly"])
def test_a_version_outside_the_range_is_one_line_naming_both(version):
    with pytest.raises(FaceopsError) as caught:
        dvc.check_version(lambda: version)
    assert str(caught.value).startswith(f"DVC {version} is installed; faceops supports dvc>=3.50,<4")
    assert "\n" not in str(caught.value)


def test_doctor_shows_the_version_as_a_check():
    assert check_dvc(lambda: "3.67.1").status == OK
    refused = check_dvc(lambda: "4.1.0")
    assert refused.status == FAIL and refused.detail.startswith("DVC 4.1.0 is installed; faceops supports dvc>=3.50,<4")


def test_the_installed_dvc_is_supported():
    assert dvc.check_version() == dvc.installed_version()
