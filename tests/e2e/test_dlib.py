"""Real dlib face descriptors on photos from the shared LFW data."""

import json

import pytest
from helpers import make_project, sh


@pytest.mark.slow
def test_pipeline_with_dlib_backbone_names_people_and_rejects_strangers(tmp_path, lfw):
    path = make_project(tmp_path / "repo", lfw, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "repro", cwd=path)
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert evaluation["backbone"] == "dlib_resnet"
    assert evaluation["accuracy"] >= 0.9
    assert evaluation["false_accept_rate"] <= 0.2 and evaluation["false_reject_rate"] <= 0.2

    meta = json.loads((path / "models/model.json").read_text())
    known = meta["labels"][0]
    known_photo = sorted((lfw / known).iterdir())[-1]  # not among the 20 imported photos
    stranger_photo = lfw / "Serena_Williams" / "Serena_Williams_0001.jpg"  # nobody in the data set
    answers = json.loads(sh("faceops", "predict", "--json", str(known_photo), str(stranger_photo), cwd=path).stdout)
    assert answers[0]["faces"][0]["name"] == known
    assert answers[1]["faces"][0]["name"] == "unknown"
    assert len(meta["labels"]) == 4  # everyone is in the live model; the rotation measured the strangers
    assert evaluation["stranger_faces"] == 60
