"""What comes into the data set: never through a link or a special file; one crop per photo; CSVs that read back."""

import os
import shutil
import subprocess

import pandas as pd
import pytest
from helpers import tool_env

from faceops.core.errors import FaceopsError, ImageError
from faceops.core.params import ValidateParams
from faceops.data.capture import frames_from
from faceops.data.dataset import import_folder, list_raw_files
from faceops.data.faces import extract_faces
from faceops.data.validate import validate_faces


@pytest.fixture
def secret(tmp_path):
    """A file outside every photo folder, standing for /etc/shadow."""
    path = tmp_path / "outside" / "shadow.jpg"
    path.parent.mkdir()
    path.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
    return path


def test_import_skips_links_and_special_files_and_says_why(tmp_path, lfw_photo, secret):
    source = tmp_path / "source"
    (source / "Ann").mkdir(parents=True)
    shutil.copy(lfw_photo, source / "Ann" / "real.jpg")
    (source / "Ann" / "link.jpg").symlink_to(secret)
    os.mkfifo(source / "Ann" / "pipe.jpg")
    (source / "Bob").symlink_to(secret.parent, target_is_directory=True)
    raw = tmp_path / "raw"
    result = subprocess.run(
        ["faceops", "import-folder", str(source), "--dest", str(raw)],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"skipped {source / 'Ann' / 'link.jpg'}: is a symbolic link (to {secret})" in result.stderr
    assert f"skipped {source / 'Ann' / 'pipe.jpg'}: is a special file (device, FIFO or socket)" in result.stderr
    assert f"skipped {source / 'Bob'}: is a symbolic link" in result.stderr
    assert sorted(str(p.relative_to(raw)) for p in raw.rglob("*")) == ["Ann", "Ann/real.jpg"]
    summary = import_folder(source, raw)
    assert summary.already_present == 1 and len(summary.skipped_files) == 3


@pytest.mark.parametrize("where", ["Ann/link.jpg", "Ann/cam/link.jpg", "Bob"])
def test_the_data_set_refuses_a_link(tmp_path, lfw_photo, secret, where):
    raw = tmp_path / "raw"
    (raw / "Ann" / "cam").mkdir(parents=True)
    shutil.copy(lfw_photo, raw / "Ann" / "a.jpg")
    target = secret if where.endswith(".jpg") else secret.parent
    (raw / where).symlink_to(target)
    with pytest.raises(FaceopsError, match=rf"{raw / where}: is a symbolic link \(to {target}\).*remove it"):
        list_raw_files(raw)


def test_the_data_set_refuses_a_fifo(tmp_path, lfw_photo):
    (tmp_path / "Ann").mkdir()
    os.mkfifo(tmp_path / "Ann" / "pipe.jpg")
    with pytest.raises(FaceopsError, match=r"pipe\.jpg: is a special file \(device, FIFO or socket\)"):
        list_raw_files(tmp_path)


def test_capture_from_a_folder_skips_links_and_special_files(tmp_path, lfw_photo, secret):
    shutil.copy(lfw_photo, tmp_path / "a.jpg")
    (tmp_path / "b.jpg").symlink_to(secret)
    os.mkfifo(tmp_path / "c.jpg")
    frames = list(frames_from(str(tmp_path)))
    assert [name for name, _ in frames] == ["a.jpg", "b.jpg", "c.jpg"]
    assert not isinstance(frames[0][1], ImageError)
    assert isinstance(frames[1][1], ImageError) and frames[1][1].kind == "not_regular"
    assert frames[1][1].reason.startswith("is a symbolic link")
    assert isinstance(frames[2][1], ImageError) and "special file" in frames[2][1].reason


def test_crop_names_are_one_to_one(tmp_path, lfw):
    """`P/a/same.jpg` and `P/a__same.jpg` were one crop (`a__same`): one photo silently replaced the other."""
    person = tmp_path / "raw" / "Tony_Blair"
    (person / "a").mkdir(parents=True)
    photos = sorted((lfw / "Tony_Blair").iterdir())
    shutil.copy(photos[0], person / "a" / "same.jpg")
    shutil.copy(photos[1], person / "a__same.jpg")
    shutil.copy(photos[2], person / "a__same.png")
    shutil.copy(photos[3], person / "Tony_0004.jpg")
    result = extract_faces(tmp_path / "raw", tmp_path / "faces", 48)
    crops = {row["source"]: os.path.basename(row["path"]) for row in result.manifest}
    assert len(crops) == 4 and len(set(crops.values())) == 4, crops
    assert crops[str(person / "Tony_0004.jpg")] == "Tony_0004.png"  # a name without a clash is as before
    assert len({row["sha256"] for row in result.manifest}) == 4
    assert sorted(p.name for p in (tmp_path / "faces" / "Tony_Blair").iterdir()) == sorted(crops.values())


def test_validation_fails_on_two_photos_sharing_a_crop(tmp_path, lfw):
    raw = tmp_path / "raw"
    for person in ("Tony_Blair", "Colin_Powell"):
        (raw / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:4]:
            shutil.copy(photo, raw / person / photo.name)
    faces = pd.DataFrame(extract_faces(raw, tmp_path / "faces", 48).manifest)
    shared = faces.loc[0, "path"]
    faces.loc[1, "path"] = shared  # as the old naming made of `a/same.jpg` and `a__same.jpg`
    params = ValidateParams(min_people=2, min_images_per_person=3, warn_images_per_person=3)
    report = validate_faces(faces, photos=8, rejected=0, image_size=48, params=params)
    check = next(check for check in report.checks if check.name == "one crop per photo")
    assert not report.success and not check.success
    assert check.problems == [f"{shared}: the crop of {faces.loc[0, 'source']} and of {faces.loc[1, 'source']}"]
