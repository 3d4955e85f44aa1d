"""Real great-expectations runs on manifests of real face crops."""

import shutil

import pandas as pd
import pytest
from PIL import Image

from faceops.core.params import ValidateParams
from faceops.data.faces import extract_faces
from faceops.data.validate import validate_faces

PEOPLE = ("Tony_Blair", "Colin_Powell", "Donald_Rumsfeld")
SIZE = 48
LOOSE = ValidateParams(
    min_people=2, min_images_per_person=3, warn_images_per_person=4, max_imbalance=3.0, max_rejected_share=0.2
)


@pytest.fixture
def faces(tmp_path, lfw):
    raw = tmp_path / "raw"
    for person in PEOPLE:
        (raw / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:6]:
            shutil.copy(photo, raw / person / photo.name)
    result = extract_faces(raw, tmp_path / "faces", SIZE)
    return pd.DataFrame(result.manifest)


def _check(report, name):
    return next(check for check in report.checks if check.name == name)


def test_clean_data_passes(faces):
    report = validate_faces(faces, photos=18, rejected=0, image_size=SIZE, params=LOOSE)
    assert report.success, report.summary()
    assert not report.warnings and report.people == 3 and report.faces == len(faces)
    as_json = report.to_dict()
    assert as_json["success"] is True and len(as_json["checks"]) == 12
    assert all(check["expectation"].startswith("expect_") for check in as_json["checks"])
    assert "12 checks passed, 0 warnings, 0 failed" in report.summary()


def test_person_below_minimum(faces):
    few = faces.drop(faces[faces["person"] == "Colin_Powell"].index[2:])
    report = validate_faces(
        few,
        photos=18,
        rejected=0,
        image_size=SIZE,
        params=ValidateParams(min_images_per_person=3, warn_images_per_person=3, max_imbalance=5),
    )
    assert report.success  # Colin is left out of this model; the others train
    check = _check(report, "enough images per person")
    assert check.level == "warning"
    assert check.problems == [
        "Colin_Powell has 2 face images, fewer than 3 (validate.min_images_per_person): "
        "left out of this model, needs 1 more photos"
    ]
    assert report.left_out == {"Colin_Powell": 1} and report.to_dict()["left_out"] == {"Colin_Powell": 1}


def test_few_images_is_a_warning_when_the_minimum_is_met(faces):
    report = validate_faces(
        faces,
        photos=18,
        rejected=0,
        image_size=SIZE,
        params=ValidateParams(min_images_per_person=3, warn_images_per_person=10),
    )
    assert report.success
    assert [c.name for c in report.warnings] == ["images per person, comfortable"]
    assert (
        "Tony_Blair has 6 face images, fewer than 10 (validate.warn_images_per_person)" in report.warnings[0].problems
    )
    assert "WARN  images per person, comfortable" in report.summary()


def test_duplicate_image_across_two_people(faces, tmp_path):
    source = faces[faces["person"] == "Tony_Blair"].iloc[0]
    copy = tmp_path / "faces" / "Colin_Powell" / "stolen.png"
    shutil.copy(source["path"], copy)
    row = {**source.to_dict(), "path": str(copy), "person": "Colin_Powell"}
    dup = pd.concat([faces, pd.DataFrame([row])], ignore_index=True)
    report = validate_faces(dup, photos=19, rejected=0, image_size=SIZE, params=LOOSE)
    assert not report.success
    assert _check(report, "no duplicate images").problems == [
        f"identical images: {source['path']} (Tony_Blair) = {copy} (Colin_Powell)"
    ]


def test_unreadable_file(faces):
    broken = faces.iloc[3]["path"]
    with open(broken, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n garbage")
    report = validate_faces(faces, photos=18, rejected=0, image_size=SIZE, params=LOOSE)
    assert not report.success
    [problem] = _check(report, "face files readable").problems
    assert problem.startswith(f"{broken}: unreadable (")


def test_too_much_imbalance(faces):
    lean = faces.drop(faces[faces["person"] == "Donald_Rumsfeld"].index[2:])
    report = validate_faces(
        lean, photos=18, rejected=0, image_size=SIZE, params=ValidateParams(min_images_per_person=2, max_imbalance=2.0)
    )
    assert report.success  # class weights handle imbalance: a warning, shown in the report
    assert "balance between people" in [c.name for c in report.warnings]
    assert _check(report, "balance between people").problems == [
        "Colin_Powell has 3.0 times the images of Donald_Rumsfeld (2), more than validate.max_imbalance (2); "
        "class weights balance them",
        "Tony_Blair has 3.0 times the images of Donald_Rumsfeld (2), more than validate.max_imbalance (2); "
        "class weights balance them",
    ]


def test_wrong_size_grey_missing_values_and_too_many_rejections(faces):
    grey = faces.iloc[0]["path"]
    Image.open(grey).convert("L").save(grey)
    small = faces.iloc[7]["path"]
    Image.open(small).resize((32, 32)).save(small)
    faces.loc[8, "box"] = None
    report = validate_faces(faces, photos=40, rejected=22, image_size=SIZE, params=LOOSE)
    assert _check(report, "face files RGB").problems == [f"{grey}: colour mode L, expected RGB"]
    assert _check(report, "face files sized").problems == [f"{small}: 32x32 px, expected 48x48 (base.image_size)"]
    assert _check(report, "manifest values not null").problems == [f"{faces.iloc[8]['path']}: column 'box' is empty"]
    assert _check(report, "few photos rejected").problems == [
        "22 of 40 photos (55.0%) were rejected by the faces stage, more than validate.max_rejected_share (20%); "
        "reasons are in reports/faces.csv"
    ]


def test_one_person_and_missing_column(faces):
    alone = faces[faces["person"] == "Tony_Blair"].drop(columns=["box"])
    report = validate_faces(alone, photos=6, rejected=0, image_size=SIZE, params=LOOSE)
    assert _check(report, "enough people").problems == [
        "found 1 person with at least 3 face images (validate.min_images_per_person): Tony_Blair; "
        "need at least 2 (validate.min_people)"
    ]
    assert _check(report, "manifest columns present").problems == ["the manifest has no column 'box'"]
