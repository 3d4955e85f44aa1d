"""Helpers of tests/*/test_drift.py, shared by its tiers."""

from faceops.core.params import FacesParams, TrainParams
from faceops.model.card import ModelCard, OpenSet

NOW = 1_800_000_000.0


def _card() -> ModelCard:
    return ModelCard(
        labels=("Ann", "Bob"),
        backbone="dlib_resnet",
        weights=None,
        weights_description="dlib ResNet (test card)",
        weights_identity=None,
        feature_key="test",
        image_size=96,
        n_features=2,
        train_faces=40,
        faces=FacesParams(),
        train=TrainParams(),
        open_set=OpenSet(
            threshold=0.5,
            centroids=((1.0, 0.0), (0.0, 1.0)),
            target_far=0.01,
            expected_far=0.01,
            expected_frr=0.05,
            impostor_faces=100,
            median_distance=(0.2, 0.2),
            unknown_share=(0.05, 0.05),
        ),
    )


def _line(card: ModelCard, name: str, label: str, distance: float, at: float = NOW) -> dict:
    return {"time": at, "name": name, "label": label, "distance": distance, "model": card.version}
