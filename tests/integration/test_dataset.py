import shutil

import pytest

from faceops.core.errors import FaceopsError
from faceops.data.dataset import import_folder, list_raw_files


def test_list_raw_files_rejects_hidden_person_folder(tmp_path, lfw_photo):
    (tmp_path / ".secret").mkdir()
    shutil.copy(lfw_photo, tmp_path / ".secret" / "a.jpg")
    with pytest.raises(FaceopsError, match=r"\.secret: person name '\.secret' is hidden"):
        list_raw_files(tmp_path)


def test_list_raw_files_rejects_loose_photo(tmp_path, lfw_photo):
    shutil.copy(lfw_photo, tmp_path / "loose.jpg")
    with pytest.raises(FaceopsError, match=r"loose\.jpg: photos must be inside a folder named after the person"):
        list_raw_files(tmp_path)


def test_import_folder_selects_people_and_images(tmp_path, lfw):
    summary = import_folder(lfw, tmp_path / "raw", min_images=20, max_people=3, max_images=5)
    people = sorted(p.name for p in (tmp_path / "raw").iterdir())
    assert people == ["Colin_Powell", "George_W_Bush", "Tony_Blair"]  # the three with most photos
    assert all(len(list((tmp_path / "raw" / p).iterdir())) == 5 for p in people)
    assert (summary.people, summary.copied, summary.already_present, summary.skipped_people) == (3, 15, 0, 59)


def test_import_folder_is_idempotent_and_never_overwrites(tmp_path, lfw, lfw_photo):
    import_folder(lfw, tmp_path / "raw", max_people=1, max_images=2)
    again = import_folder(lfw, tmp_path / "raw", max_people=1, max_images=2)
    assert (again.copied, again.already_present) == (0, 2)
    victim = next((tmp_path / "raw" / "George_W_Bush").iterdir())
    victim.write_bytes(lfw_photo.read_bytes())
    with pytest.raises(FaceopsError, match=rf"{victim.name}: already exists with different content"):
        import_folder(lfw, tmp_path / "raw", max_people=1, max_images=2)
    assert victim.read_bytes() == lfw_photo.read_bytes()


def test_import_folder_errors(tmp_path, lfw):
    with pytest.raises(FaceopsError, match=r"nope: not a folder"):
        import_folder(tmp_path / "nope", tmp_path / "raw")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceopsError, match=r"no person folders found"):
        import_folder(tmp_path / "empty", tmp_path / "raw")
    with pytest.raises(FaceopsError, match=r"no person has at least 10000 photos"):
        import_folder(lfw, tmp_path / "raw", min_images=10000)


def test_import_folder_refuses_someone_forgotten_before_copying(tmp_path, lfw_photo, monkeypatch, capsys):
    """import-folder is a door too: a folder of someone with a forget receipt is refused, naming them, and nothing
    is copied; --re-enrol imports them on purpose; a forget under way is refused even then."""
    from faceops.cli.main import main
    from faceops.people.forgotten import journal_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "receipts").mkdir()
    (tmp_path / "receipts/forget-Ann_Lee-20261201T000000Z.json").write_text("{}")
    for person in ("ann_lee", "Bob"):  # another spelling of Ann_Lee is her too
        (tmp_path / "photos" / person).mkdir(parents=True)
        (tmp_path / "photos" / person / "1.jpg").write_bytes(lfw_photo.read_bytes())

    assert main(["import-folder", "photos"]) == 1
    assert "photos holds photos of 'ann_lee', forgotten earlier (see receipts/); nothing was copied" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "dataset").exists()
    assert main(["import-folder", "photos", "--re-enrol"]) == 0
    assert sorted(p.name for p in (tmp_path / "dataset/raw").iterdir()) == ["Bob", "ann_lee"]

    journal = journal_path(tmp_path, "Bob")
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text("{}")
    assert main(["import-folder", "photos", "--re-enrol"]) == 1
    assert "'Bob', being forgotten (an unfinished faceops forget); finish it first" in capsys.readouterr().err
