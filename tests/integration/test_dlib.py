"""Real dlib face descriptors on photos from the shared LFW data."""

import numpy as np

from faceops.data.detect import Box
from faceops.data.images import load_image
from faceops.model.backbones.dlib_resnet import DlibExtractor
from faceops.model.features import FaceFile, FeatureCache


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
