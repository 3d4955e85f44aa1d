"""Real galleries: a family, one person with negatives, people short of photos, FAR with its sample size, and a
refused first model that ends with the gate's reason."""

import numpy as np

from faceops.core.params import PromoteParams
from faceops.model.evaluate import Evaluation
from faceops.model.rates import Rate, wilson_interval
from faceops.model.rotation import cross_validated_false_accepts, held_out_distances, people_folds
from faceops.model.scoring import FaceScores, threshold_at_far
from faceops.release.gate import GateVerdict
from faceops.release.promote import judge


def test_wilson_interval_matches_the_textbook():
    low, high = wilson_interval(1, 10)
    assert (round(low, 4), round(high, 4)) == (0.0179, 0.4042)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert Rate(1, 10).versus(0.05) == "unmeasurable"  # the office: 1 in 10 says nothing about 5 %
    assert Rate(0, 200).versus(0.05) == "within"
    assert Rate(60, 200).versus(0.05) == "above"


def test_rotation_holds_everyone_out_once_and_counts_on_unseen_folds():
    folds = people_folds(["Ann", "Bob", "Cy"], 2, seed=1)
    assert sorted(row for fold in folds for row in fold) == [0, 1, 2] and max(map(len, folds)) == 2
    assert people_folds(["Ann"], 2, seed=1) == []  # one person alone: nobody to hold out against
    distances = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.6], [0.7, 0.4, 0.1]])
    closest = np.argsort(distances, axis=1)  # the scores of these distances, every person kept
    scores = FaceScores(distances.diagonal(), closest, np.take_along_axis(distances, closest, axis=1), 3)
    held = held_out_distances(scores, np.array([0, 1, 2]), [[0], [1], [2]])
    np.testing.assert_allclose(held, [0.5, 0.6, 0.4])  # the closest reference of the others
    count = cross_validated_false_accepts(np.array([0.5, 0.6, 0.4, 0.9]), np.array([0, 1, 2, 0]), np.array([]), 0.3)
    assert count.stranger_faces == 4 and count.folds == 3


def test_a_familys_few_strangers_still_hold_the_threshold_to_the_target_rate():
    """27 stranger faces (a family of 3 in rotation): the smallest of them alone would let about 1 in 28 new
    strangers through, not 1 in 100; the extended tail keeps the rate near the target, and one stray photo (someone
    else's face in a person's folder) does not pull the threshold down with it."""
    rng = np.random.default_rng(7)
    rates, smallest_rule = [], []
    for _ in range(300):
        calibration, fresh = rng.normal(0.17, 0.012, 27), np.sort(rng.normal(0.17, 0.012, 2000))
        threshold = threshold_at_far(calibration, np.array([]), 0.01)[0]
        rates.append(np.searchsorted(fresh, threshold, side="right") / len(fresh))
        smallest_rule.append(np.searchsorted(fresh, calibration.min() - 1e-6, side="right") / len(fresh))
    assert 0.004 < np.mean(rates) < 0.02 < np.mean(smallest_rule)
    stray = np.append(rng.normal(0.17, 0.012, 27), 0.01)
    assert threshold_at_far(stray, np.array([]), 0.01)[0] > 0.12
    many = rng.normal(0.17, 0.012, 400)  # enough faces for the target's own rank: that rank alone
    assert threshold_at_far(many, np.array([]), 0.01)[0] == np.sort(many)[4] - 1e-6
    strangers, folds = rng.normal(0.17, 0.012, 27), np.repeat([0, 1], [18, 9])
    assert cross_validated_false_accepts(strangers, folds, np.array([]), 0.01).false_accepts <= 1


def _evaluation(far, faces, accepts):
    metrics = {"accuracy": 1.0, "false_accept_rate": far, "stranger_faces": faces, "false_accepts": accepts}
    return Evaluation(metrics, [], [])


def test_gate_judges_far_only_when_the_sample_can_tell():
    gate = PromoteParams(max_false_accept_rate=0.05)
    small = judge(_evaluation(0.1, 10, 1), None, gate, "accuracy")
    assert small.passed
    assert small.notes()[0].startswith("FAR not measurable on 10 stranger faces (1 accepted, 95% interval 1.8% to")
    assert GateVerdict.of(small, None).to_dict()["checks"][1]["note"] == small.notes()[0]
    big = judge(_evaluation(0.3, 200, 60), None, gate, "accuracy")
    assert not big.passed and "false_accept_rate 0.3" in big.reason() and not big.notes()
    assert judge(_evaluation(0.0, 500, 0), None, gate, "accuracy").passed
