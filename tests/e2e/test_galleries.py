"""Real galleries: a family, one person with negatives, people short of photos, FAR with its sample size, and a
refused first model that ends with the gate's reason."""

import json
import shutil

import pytest
import yaml
from helpers import committed_params, new_project, sh

FAMILY = ("Colin_Powell", "Hugo_Chavez", "Jennifer_Aniston")
SHORT = "Serena_Williams"  # 3 photos: below validate.min_images_per_person (5)
ME = "Gerhard_Schroeder"


def _copy(lfw, target, person, count, start=0):
    (target / person).mkdir(parents=True, exist_ok=True)
    for photo in sorted((lfw / person).iterdir())[start : start + count]:
        shutil.copy(photo, target / person / photo.name)


def _gallery_project(path, lfw, people, **params):
    """A project with the committed params.yaml but `train.backbone: dlib_resnet` (and `params`), and `people`
    (name: photos) as its data."""
    new_project(path)
    settings = committed_params()
    settings["train"]["backbone"] = "dlib_resnet"
    for section, values in params.items():
        settings[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    for person, count in people.items():
        _copy(lfw, path / "dataset/raw", person, count)
    return path


def _repro(path):
    sh("dvc", "add", "-q", "dataset/raw", cwd=path)
    return sh("dvc", "repro", cwd=path, check=False)


@pytest.mark.slow
def test_family_of_three_every_one_live_and_a_refused_first_model_ends_with_the_reason(tmp_path, lfw):
    people = {**dict.fromkeys(FAMILY, 12), SHORT: 3}
    # A dense head that has not learned (one epoch at a tiny rate) and a floor it cannot reach: a real refusal.
    untrained = {"head": "dense", "epochs": 1, "learning_rate": 1e-6}
    path = _gallery_project(tmp_path / "family", lfw, people, train=untrained, promote={"min_metric": 1.0})
    refused = _repro(path)
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors[-1].startswith("error: the first model was REFUSED by the release gate: accuracy ")
    assert "(needs >= 1 (promote.min_metric))" in errors[-1] and "lower promote.min_metric" in errors[-1]
    last = refused.stderr.strip().splitlines()[-3:]
    assert any("REFUSED by the release gate" in line for line in last), refused.stderr[-2000:]
    assert "does not exist" not in refused.stderr and "Traceback" not in refused.stderr
    assert not (path / "models/model.keras").exists()
    assert json.loads((path / "reports/gate.json").read_text())["promoted"] is False

    settings = yaml.safe_load((path / "params.yaml").read_text())
    settings["train"].update({key: committed_params()["train"][key] for key in untrained})
    settings["promote"]["min_metric"] = committed_params()["promote"]["min_metric"]
    (path / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    assert yaml.safe_load((path / "params.yaml").read_text()) == {
        **committed_params(),
        "train": {**committed_params()["train"], "backbone": "dlib_resnet"},
    }
    trained = sh("dvc", "repro", cwd=path)
    assert "PROMOTED" in trained.stdout
    card = json.loads((path / "models/model.json").read_text())
    assert card["labels"] == sorted(FAMILY)  # everyone with enough photos is live
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert evaluation["people"] == 3 and evaluation["stranger_faces"] >= 27  # rotation + the short person's faces
    low, high = evaluation["far_interval"]
    assert 0 <= low <= evaluation["false_accept_rate"] <= high <= 1
    validation = json.loads((path / "reports/data_validation.json").read_text())
    assert validation["success"] and list(validation["left_out"]) == [SHORT]
    needs = validation["left_out"][SHORT]  # 2, or more if a photo had no face found
    listing = sh("faceops", "people", cwd=path).stdout
    [row] = [line for line in listing.splitlines() if line.startswith(f"| {SHORT} |")]
    assert f"| does not know (left out: needs {needs} more photos) |" in row
    assert "4 people; 3 known to the live model" in listing
    [note] = json.loads((path / "reports/gate.json").read_text())["notes"]  # ~30 stranger faces cannot tell 5 %
    assert note.startswith(f"FAR not measurable on {evaluation['stranger_faces']} stranger faces")
    sh("faceops", "report", cwd=path)
    report = (path / "reports/report.html").read_text()
    assert f"{SHORT} has {5 - needs} face images, fewer than 5 (validate.min_images_per_person)" in report
    assert f"FAR not measurable on {evaluation['stranger_faces']} stranger faces" in report


@pytest.mark.slow
def test_one_person_needs_negatives_then_trains_an_is_this_me_recogniser(tmp_path, lfw):
    path = _gallery_project(tmp_path / "me", lfw, {ME: 12})
    alone = _repro(path)
    assert alone.returncode != 0
    errors = [line for line in alone.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: training needs faces of at least 2 people, or of 1 person ({ME}) and of others: add a second "
        "person's photos to dataset/raw/<name>/, or other people's faces to dataset/raw/.negatives/others/ "
        '(an "is this me?" recogniser)'
    ]

    others = sorted(p.name for p in lfw.iterdir() if p.is_dir() and p.name != ME)[:24]
    negatives = path / "dataset/raw/.negatives/others"  # other people's faces, one photo each
    negatives.mkdir(parents=True)
    for person in others:
        shutil.copy(sorted((lfw / person).iterdir())[0], negatives)
    trained = _repro(path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    card = json.loads((path / "models/model.json").read_text())
    assert card["labels"] == [ME]
    assert card["open_set"]["stranger_faces"] == 24
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert evaluation["stranger_faces"] == 24 and evaluation["false_accept_rate"] is not None
    me, stranger = sorted((lfw / ME).iterdir())[-1], sorted((lfw / others[-1]).iterdir())[-1]
    answers = json.loads(sh("faceops", "predict", "--json", str(me), str(stranger), cwd=path).stdout)
    assert [answer["faces"][0]["name"] for answer in answers] == [ME, "unknown"]


@pytest.mark.slow
def test_families_of_two_and_four_train_with_the_defaults(tmp_path, lfw):
    pair = {"Hugo_Chavez": 12, "Jennifer_Aniston": 12}
    path = _gallery_project(tmp_path / "pair", lfw, pair)
    assert _repro(path).returncode == 0
    assert json.loads((path / "models/model.json").read_text())["labels"] == sorted(pair)
    for person in ("Colin_Powell", "Tony_Blair"):
        _copy(lfw, path / "dataset/raw", person, 12)
    grown = _repro(path)
    assert grown.returncode == 0, grown.stderr[-3000:]
    card = json.loads((path / "models/model.json").read_text())
    assert card["labels"] == sorted([*pair, "Colin_Powell", "Tony_Blair"])
    assert card["open_set"]["rotation_folds"] == 2 and card["open_set"]["stranger_faces"] == 36  # 4 x 9 train faces
    assert "4 people; 4 known to the live model" in sh("faceops", "people", cwd=path).stdout
