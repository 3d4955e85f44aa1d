import numpy as np
import pytest

from faceops.errors import FaceopsError
from faceops.model import centroid_distances, person_centroids
from faceops.train import calibrate_unknown, nearest_other_distances


def test_threshold_names_no_more_than_the_target_share_of_impostors():
    rng = np.random.default_rng(0)
    impostor = rng.uniform(0.3, 1.0, 1000)
    genuine = rng.uniform(0.05, 0.35, 200)
    for target in (0.01, 0.05, 0.2):
        calibration = calibrate_unknown(impostor, genuine, target)
        assert np.mean(impostor <= calibration.threshold) <= target
        assert calibration.far == pytest.approx(np.mean(impostor <= calibration.threshold))
        assert calibration.far > target - 0.005  # as close to the target as the sample allows
        assert calibration.frr == pytest.approx(np.mean(genuine > calibration.threshold))
        assert calibration.impostors == 1000
    assert calibrate_unknown(impostor, genuine, 0.01).frr > calibrate_unknown(impostor, genuine, 0.2).frr


def test_impostors_are_each_face_seen_from_the_other_people():
    distances = np.array([[0.1, 0.7, 0.9], [0.8, 0.2, 0.4], [0.5, 0.6, 0.05]])
    np.testing.assert_allclose(nearest_other_distances(distances, np.array([0, 1, 2])), [0.7, 0.4, 0.5])
    with pytest.raises(FaceopsError, match="at least 2 people"):
        calibrate_unknown(np.array([np.inf]), np.array([0.1]), 0.01)


def test_centroids_are_unit_mean_directions():
    features = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    centroids = person_centroids(features, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(centroids, [[1, 0], [0, 1]])
    np.testing.assert_allclose(centroid_distances(np.array([[0.0, 5.0]]), centroids), [[1.0, 0.0]])
