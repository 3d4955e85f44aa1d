"""Real dlib face descriptors on photos from the shared LFW data."""

import json

import numpy as np
import pytest
from helpers import make_project, sh

from faceops.data.detect import Box
from faceops.data.faces import extract_faces
from faceops.data.images import load_image
from faceops.model.backbones.dlib_resnet import DlibExtractor
from faceops.model.features import FaceFile, FeatureCache


@pytest.fixture(scope="module")
def descriptors(tmp_path_factory, lfw):
    root = tmp_path_factory.mktemp("dlib")
    for person in ("Tony_Blair", "Colin_Powell", "Serena_Williams"):
        (root / "raw" / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:4]:
            (root / "raw" / person / photo.name).write_bytes(photo.read_bytes())
    manifest = extract_faces(root / "raw", root / "faces", 96).manifest
    extractor = DlibExtractor(96, margin=0.2)
    chips = [extractor.inputs_from_photo(load_image(row["source"]), [Box.parse(row["box"])])[0] for row in manifest]
    return extractor(np.stack(chips)), np.array([row["person"] for row in manifest]), manifest


def test_worker_processes_compute_the_same_descriptors(descriptors, tmp_path, caplog):
    features, _, manifest = descriptors
    files = [FaceFile(row["sha256"], row["path"], row["source"], row["box"]) for row in manifest]
    cache = FeatureCache(tmp_path / "workers", batch_size=2, workers=2, min_faces_for_workers=0)
    with caplog.at_level("INFO", logger="faceops.model.features"):
        parallel = cache.features(DlibExtractor(96, margin=0.2), files)
    np.testing.assert_allclose(parallel, features, atol=1e-6)
    assert "12 computed with 2 process(es)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="faceops.model.features"):  # a dozen faces: starting workers would cost more
        FeatureCache(tmp_path / "default", batch_size=2, workers=2).features(DlibExtractor(96, margin=0.2), files)
    assert "12 computed with 1 process(es)" in caplog.text


def test_chips_are_aligned_on_the_full_resolution_photo(descriptors):
    """dlib's recipe: landmarks and the 150-px chip from the source photo, not from the 96-px crop (upsampled,
    hence blurred: that cost accuracy)."""
    import cv2

    _, _, manifest = descriptors
    extractor = DlibExtractor(96, margin=0.2)
    ratios = []
    for row in manifest:
        [chip] = extractor.inputs_from_photo(load_image(row["source"]), [Box.parse(row["box"])])
        crop = load_image(row["path"])
        inner = round(96 / 1.4)
        low = (96 - inner) // 2
        [from_crop] = extractor.inputs_from_photo(crop, [Box(low, low, inner, inner)])
        assert chip.shape == from_crop.shape == (150, 150, 3)
        detail = [cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for c in (chip, from_crop)]
        ratios.append(detail[0] / detail[1])
    assert np.median(ratios) > 1.3, ratios  # more detail in the typical face
    assert "photo-chip150" in extractor.key  # the cache holds no descriptor of the old, crop-based chips


def test_same_person_is_closer_than_different_people(descriptors):
    features, people, _ = descriptors
    assert features.shape == (12, 128)
    distances = np.linalg.norm(features[:, None] - features[None], axis=2)
    same = people[:, None] == people[None]
    off_diagonal = ~np.eye(len(people), dtype=bool)
    assert distances[same & off_diagonal].max() < distances[~same].min()
    assert distances[same & off_diagonal].mean() < 0.6 < distances[~same].mean()  # dlib's usual cut-off


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
