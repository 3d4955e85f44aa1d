"""One person under two names is flagged before training, naming both; different people are not."""

import numpy as np

from faceops.data.lookalike import lookalikes
from faceops.model.backbones import get_backbone


def _faces(rng, centre, n, spread=0.3):
    return centre + spread * rng.standard_normal((n, len(centre)))


def test_one_person_under_two_names_is_flagged_naming_both():
    rng = np.random.default_rng(0)
    ann, bob, cy = (rng.standard_normal(64) for _ in range(3))
    features = np.vstack([_faces(rng, ann, 10), _faces(rng, ann, 10), _faces(rng, bob, 12), _faces(rng, cy, 12)])
    people = ["Ann"] * 10 + ["Ann_Two"] * 10 + ["Bob"] * 12 + ["Cy"] * 12
    found = lookalikes(features, people)
    assert [(pair.first, pair.second) for pair in found] == [("Ann", "Ann_Two")]
    assert found[0].message().startswith("Ann and Ann_Two look like one person: their faces are as close")
    assert lookalikes(features[20:], people[20:]) == []  # Bob and Cy: different people
    assert lookalikes(features[:1], people[:1]) == []  # one face: no spread of its own to compare with


def test_random_vgg16_features_are_not_checked():
    vgg16, dlib = get_backbone("vgg16"), get_backbone("dlib_resnet")
    assert vgg16.lookalike_skip(None) == "VGG16 with random weights (tests only) tells no two people apart"
    assert vgg16.lookalike_skip("imagenet") is None and dlib.lookalike_skip(None) is None
