"""One person under two names is flagged before training, naming both; different people are not."""

import json
import shutil

import pytest
from helpers import new_project, sh


@pytest.mark.slow
def test_validation_warns_about_one_person_under_two_names(tmp_path, lfw):
    """Tony Blair's photos under two names, beside two other people, with dlib's descriptor: one warning."""
    photos = tmp_path / "photos"
    for person, target, chosen in (
        ("Tony_Blair", "Tony_Blair", slice(0, 10)),
        ("Tony_Blair", "Anthony_Blair", slice(10, 20)),
        ("Colin_Powell", "Colin_Powell", slice(0, 12)),
        ("Donald_Rumsfeld", "Donald_Rumsfeld", slice(0, 12)),
    ):
        (photos / target).mkdir(parents=True, exist_ok=True)
        for photo in sorted((lfw / person).glob("*.jpg"))[chosen]:
            shutil.copy(photo, photos / target / photo.name)
    path = new_project(tmp_path / "repo", train={"backbone": "dlib_resnet"})
    sh("faceops", "import-folder", str(photos), cwd=path)
    result = sh("dvc", "repro", "lookalikes", cwd=path)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: Anthony_Blair and Tony_Blair look like one person")
    pairs = json.loads((path / "reports/lookalikes.json").read_text())["pairs"]
    assert [(p["first"], p["second"]) for p in pairs] == [("Anthony_Blair", "Tony_Blair")]
