"""Which retrain tweaks train a new model: one that only changes what the head never reads is skipped, saying why."""

import yaml

from faceops.core.params import DEFAULT_SCHEDULE, load_params
from faceops.release.retrain import TriedModels, plan


def _tried(tmp_path, current_trained=True, **train):
    """A params.yaml of the defaults (faceops.core.params, not the checkout's file: a user's may differ) but `train`."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": train, "retrain": {"schedule": list(DEFAULT_SCHEDULE)}}, sort_keys=False))
    return TriedModels(path, current_trained), load_params(path).retrain.tweaks(all_entries=True)


def test_on_dlibs_centroid_head_the_dense_heads_tweaks_are_skipped(tmp_path):
    tried, schedule = _tried(tmp_path, backbone="dlib_resnet")
    verdicts = {tweak.name: tried.same_model(tweak) for tweak in schedule}
    assert verdicts == {
        "more-epochs": "trains the same model as params.yaml as it is: the centroid head reads no train.epochs",
        "lower-learning-rate": "trains the same model as params.yaml as it is: "
        "the centroid head reads no train.epochs, train.learning_rate",
        "bigger-head": "trains the same model as params.yaml as it is: "
        "the centroid head reads no train.epochs, train.dense_units, train.dropout",
        "more-augmentation": None,  # jittered copies of each face move its reference
        "face-backbone": "trains the same model as params.yaml as it is: the centroid head reads no train.epochs",
    }


def test_on_vgg16s_dense_head_every_default_tweak_trains(tmp_path):
    tried, schedule = _tried(tmp_path)
    assert [tried.same_model(tweak) for tweak in schedule] == [None] * len(schedule)


def test_a_tweak_repeating_an_earlier_one_or_the_current_settings_is_skipped(tmp_path):
    from faceops.core.params import Tweak

    tried, _ = _tried(tmp_path, head="dense", epochs=40)
    assert tried.same_model(Tweak("as-now", {"train.epochs": 40})) == "trains the same model as params.yaml as it is"
    assert tried.same_model(Tweak("longer", {"train.epochs": 80})) is None
    assert tried.same_model(Tweak("longer-again", {"train.epochs": 80, "report.deadline": 60})) == (
        "trains the same model as attempt longer"
    )
    assert tried.same_model(Tweak("stricter-gate", {"train.epochs": 80, "promote.min_metric": 0.99})) is None


def test_the_dry_run_plan_says_which_attempts_would_be_skipped(tmp_path):
    tried, _ = _tried(tmp_path, backbone="dlib_resnet")
    lines = plan(load_params(tmp_path / "params.yaml").retrain, tried)
    assert lines[1] == (
        "  1. more-epochs: train.epochs=80; skipped, it trains the same model as params.yaml as it is: "
        "the centroid head reads no train.epochs"
    )
    assert lines[4] == "  4. more-augmentation: train.epochs=80, train.augment.copies=2"


def test_with_photos_not_yet_run_through_the_pipeline_only_repeats_of_an_attempt_are_skipped(tmp_path):
    """New photos since the last run: the current settings train a new model, once."""
    tried, schedule = _tried(tmp_path, current_trained=False, backbone="dlib_resnet")
    verdicts = [tried.same_model(tweak) for tweak in schedule]
    assert verdicts[0] is None
    assert verdicts[1:] == [
        "trains the same model as attempt more-epochs: the centroid head reads no train.epochs, train.learning_rate",
        "trains the same model as attempt more-epochs: "
        "the centroid head reads no train.epochs, train.dense_units, train.dropout",
        None,
        "trains the same model as attempt more-epochs: the centroid head reads no train.epochs",
    ]


def test_the_stage_retrain_sees_past_is_the_params_check_and_it_outputs_the_same_file_each_time():
    """`dvc status` lists it after any edit of params.yaml (retrain.threshold too): retrain takes that for no change
    only while the stage depends on the whole file and its output never changes what runs after it."""
    from helpers import REPO

    from faceops.release.retrain import PARAMS_CHECK_STAGE

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][PARAMS_CHECK_STAGE]
    assert "params.yaml" in stage["deps"] and "params" not in stage
    assert stage["outs"] == [{"reports/params_check.json": {"cache": False}}]
