import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.model.recogniser import centroid_distances, unit_rows
from faceops.model.rotation import held_out_distances
from faceops.model.scoring import (
    PersonStreams,
    centroids_chunked,
    floored_thresholds,
    left_out_distances,
    score_faces,
    threshold_at_far,
)


def test_threshold_names_no_more_than_the_target_share_of_impostors():
    rng = np.random.default_rng(0)
    impostor = rng.uniform(0.3, 1.0, 1000)
    genuine = rng.uniform(0.05, 0.35, 200)
    for target in (0.01, 0.05, 0.2):
        threshold, far, frr, impostors = threshold_at_far(impostor, genuine, target)
        assert np.mean(impostor <= threshold) <= target
        assert far == pytest.approx(np.mean(impostor <= threshold))
        assert far > target - 0.005  # as close to the target as the sample allows
        assert frr == pytest.approx(np.mean(genuine > threshold))
        assert impostors == 1000
    assert threshold_at_far(impostor, genuine, 0.01)[2] > threshold_at_far(impostor, genuine, 0.2)[2]


def test_impostors_are_each_face_seen_from_the_other_people():
    """Each person held out alone: a face's impostor distance is to the closest reference of the others."""
    centroids = np.eye(3, dtype=np.float32)
    features = np.array([[1.0, 0.6, 0.2], [0.3, 1.0, 0.8], [0.7, 0.1, 1.0]], dtype=np.float32)
    labels = np.array([0, 1, 2])
    distances = centroid_distances(features, centroids)
    scores = score_faces(features, labels, centroids, k=2)
    expected = [np.delete(row, label).min() for row, label in zip(distances, labels)]
    np.testing.assert_allclose(held_out_distances(scores, labels, [[0], [1], [2]]), expected, atol=1e-6)
    with pytest.raises(FaceopsError, match="at least 2 people"):
        threshold_at_far(np.array([np.inf]), np.array([0.1]), 0.01)


def test_centroids_are_unit_mean_directions():
    features = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    centroids = centroids_chunked(features, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(centroids, [[1, 0], [0, 1]])
    np.testing.assert_allclose(centroid_distances(np.array([[0.0, 5.0]]), centroids), [[1.0, 0.0]])


def person_thresholds(threshold, rejected, own, labels, max_person_frr):
    refused = PersonStreams.group([d for _, d in rejected], np.array([p for p, _ in rejected]), 2)
    return floored_thresholds(threshold, refused, PersonStreams.group(own, labels, 2), max_person_frr)


def test_a_rejection_lowers_only_that_persons_threshold_and_never_below_the_floor():
    own = np.array([0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22, 0.24, 0.26, 0.28, 0.05, 0.06])
    labels = np.array([0] * 10 + [1] * 2)
    thresholds, floored = person_thresholds(0.30, [(0, 0.25)], own, labels, max_person_frr=0.2)
    assert thresholds == (pytest.approx(0.25 - 1e-6), 0.30) and floored == ()
    # A rejected face closer than most of the person's own faces: at most 20 % of theirs may fall outside.
    thresholds, floored = person_thresholds(0.30, [(0, 0.11), (0, 0.2)], own, labels, max_person_frr=0.2)
    assert thresholds[0] == pytest.approx(0.24) and floored == (0,)
    assert np.mean(own[:10] > thresholds[0]) <= 0.2


def test_left_out_distance_is_to_the_mean_of_the_persons_other_faces():
    """References hold every training face, so a face's genuine distance leaves it out of its own reference: what
    a new photo of that person would score, not the flattering distance to a mean that contains the face."""
    features = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 0, 0, 1, -1])
    distances = left_out_distances(features, labels, 2, chunk=2)
    faces = unit_rows(features[:3])
    expected = [1 - faces[i] @ unit_rows(np.delete(faces, i, axis=0).sum(axis=0, keepdims=True))[0] for i in range(3)]
    np.testing.assert_allclose(distances[:3], expected, atol=1e-9)
    assert distances[2] == pytest.approx(0.0)  # the mean of the other two points its way
    assert distances[0] > 0.1  # far from the others, though its own reference is only 0.3 away
    assert np.isinf(distances[3]) and np.isinf(distances[4])  # a person's only face; a stranger
