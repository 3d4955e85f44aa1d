import numpy as np

from faceops.model import centroid_distances, person_centroids
from faceops.train import unknown_threshold


def test_threshold_sits_between_genuine_and_impostor_distances():
    distances = np.array([[0.02, 0.50], [0.04, 0.60], [0.55, 0.03], [0.45, 0.05]])
    threshold, genuine, impostor = unknown_threshold(distances, np.array([0, 0, 1, 1]), 0.95)
    assert genuine < threshold < impostor
    assert abs(threshold - (genuine + impostor) / 2) < 1e-9


def test_threshold_is_the_genuine_quantile_when_people_overlap():
    distances = np.array([[0.30, 0.20], [0.40, 0.10], [0.10, 0.35], [0.15, 0.32]])
    threshold, genuine, _ = unknown_threshold(distances, np.array([0, 0, 1, 1]), 0.95)
    assert threshold == genuine


def test_centroids_are_unit_mean_directions():
    features = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    centroids = person_centroids(features, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(centroids, [[1, 0], [0, 1]])
    np.testing.assert_allclose(centroid_distances(np.array([[0.0, 5.0]]), centroids), [[1.0, 0.0]])
