"""The feature cache, with a real (randomly initialised) VGG16 base on tiny faces."""

import numpy as np
import pytest

from faceops.backbones import Vgg16Extractor, build_vgg16_base, weights_identity
from faceops.errors import FaceopsError
from faceops.faces import extract_faces
from faceops.features import ORIGINAL, FeatureCache, training_variants
from faceops.images import load_image
from faceops.params import AugmentParams


@pytest.fixture(scope="module")
def faces(tmp_path_factory, lfw):
    root = tmp_path_factory.mktemp("cache")
    raw = root / "raw" / "Tony_Blair"
    raw.mkdir(parents=True)
    for photo in sorted((lfw / "Tony_Blair").iterdir())[:4]:
        raw.joinpath(photo.name).write_bytes(photo.read_bytes())
    by_size = {}
    for size in (32, 40):
        manifest = extract_faces(root / "raw", root / f"faces{size}", size).manifest
        by_size[size] = ([row["path"] for row in manifest], [row["sha256"] for row in manifest])
    return by_size


def _extractor(size: int) -> Vgg16Extractor:
    return Vgg16Extractor(build_vgg16_base(None, size, seed=1), weights_identity(None, 1), size)


def test_second_run_is_a_hit(tmp_path, faces):
    paths, shas = faces[32]
    extractor = _extractor(32)
    first = FeatureCache(tmp_path)
    features = first.features(extractor, paths, shas)
    assert features.shape == (4, 512)
    assert (first.hits, first.misses) == (0, 4)

    second = FeatureCache(tmp_path)
    again = second.features(extractor, paths, shas)
    assert (second.hits, second.misses) == (4, 0)
    np.testing.assert_allclose(again, features)
    np.testing.assert_allclose(extractor(load_image(paths[0])[None]), features[:1], atol=1e-5)


def test_image_size_change_is_a_miss(tmp_path, faces):
    cache = FeatureCache(tmp_path)
    cache.features(_extractor(32), *faces[32])
    other = FeatureCache(tmp_path)
    other.features(_extractor(40), *faces[40])
    assert (other.hits, other.misses) == (0, 4)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_new_images_only_compute_the_new_ones(tmp_path, faces):
    paths, shas = faces[32]
    extractor = _extractor(32)
    FeatureCache(tmp_path).features(extractor, paths[:2], shas[:2])
    cache = FeatureCache(tmp_path)
    cache.features(extractor, paths, shas)
    assert (cache.hits, cache.misses) == (2, 2)


def test_variants_are_cached_separately_and_differ(tmp_path, faces):
    paths, shas = faces[32]
    extractor = _extractor(32)
    variants = training_variants(AugmentParams(flip=True, copies=1), seed=0)
    assert [v.key.split("|")[0] for v in variants] == ["original", "flip", "jitter0"]
    cache = FeatureCache(tmp_path)
    outputs = [cache.features(extractor, paths, shas, v) for v in variants]
    assert cache.misses == 12
    assert not np.allclose(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    again = FeatureCache(tmp_path)
    np.testing.assert_allclose(again.features(extractor, paths, shas, variants[2]), outputs[2])
    assert again.hits == 4


def test_wrong_face_size_names_the_file(tmp_path, faces):
    paths, shas = faces[40]
    with pytest.raises(FaceopsError, match=r"face is 40x40 px, the model expects 32x32"):
        FeatureCache(tmp_path).features(_extractor(32), paths, shas, ORIGINAL)


def test_weights_errors(tmp_path):
    with pytest.raises(FaceopsError, match=r"nope\.h5: weights file not found"):
        build_vgg16_base(str(tmp_path / "nope.h5"), 32, seed=0)
    bad = tmp_path / "bad.h5"
    bad.write_text("not weights")
    with pytest.raises(FaceopsError, match=r"bad\.h5: not a VGG16 \(no top\) weights file"):
        build_vgg16_base(str(bad), 32, seed=0)
    with pytest.raises(FaceopsError, match=r"VGG16 needs at least 32 px"):
        build_vgg16_base(None, 16, seed=0)
