import pytest

from faceops.core.errors import FaceopsError
from faceops.core.names import person_name as check_person_name
from faceops.data.dataset import list_raw_files


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        (".hidden", "hidden"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        (" Ann", "space"),
    ],
)
def test_bad_person_names(name, message):
    with pytest.raises(FaceopsError, match=message):
        check_person_name(name)


def test_good_person_name():
    assert check_person_name("Ann_Smith") == "Ann_Smith"


def test_list_raw_files_missing_folder(tmp_path):
    with pytest.raises(FaceopsError, match=r"data set folder not found"):
        list_raw_files(tmp_path / "nope")
