"""The backbone registry: every backbone registered once, the names params.yaml accepts are the registered ones,
nothing outside the registry decides by a backbone's name, and a new backbone needs nothing but registering."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from faceops.core.params import AugmentParams, FacesParams, TrainParams, load_params
from faceops.data.detect import Box
from faceops.data.images import load_image, sha256_file
from faceops.model.features import FeatureCache, training_variants
from faceops.ops.doctor import check_backbones

# A new backbone, known only to the registry (and to core's names): mean colours of the crop's four quarters.


def _coloured_faces(folder: Path) -> pd.DataFrame:
    """Three people, each a colour of their own, eight 32-pixel faces each (six to train on)."""
    rng = np.random.default_rng(0)
    rows = []
    for person, colour in (("Ann", (200, 40, 40)), ("Bob", (40, 200, 40)), ("Cy", (40, 40, 200))):
        for i in range(8):
            pixels = np.clip(np.array(colour) + rng.normal(0, 12, size=(32, 32, 3)), 0, 255).astype("uint8")
            path = folder / f"{person}_{i}.png"
            Image.fromarray(pixels).save(path)
            subset = "train" if i < 6 else "test"
            rows.append({"path": str(path), "person": person, "sha256": sha256_file(path), "subset": subset})
    return pd.DataFrame(rows).assign(source="", box="")


def test_a_registered_backbone_is_all_it_takes(quarters, tmp_path):
    """Registered (and named in core), a backbone is accepted by params.yaml, checked by doctor, followed by
    flip: auto, trained on, saved, loaded and run, with no other change to faceops."""
    from faceops.model.recogniser import Recogniser, save_recogniser
    from faceops.model.train import train_recogniser

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"backbone": "quarters", "weights": None}}))
    params = load_params(tmp_path / "params.yaml")
    assert params.train.backbone == "quarters"
    [row] = [c for c in check_backbones(params, lambda url: False) if c.name == "backbone quarters"]
    assert (row.status, row.detail) == ("OK", "nothing to install (used)")
    assert [v.label for v in training_variants(AugmentParams(), 0, "quarters")] == ["original"]

    split = _coloured_faces(tmp_path)
    train = TrainParams(backbone="quarters", weights=None, head="logistic", epochs=30, learning_rate=0.05)
    result = train_recogniser(split, 32, 0, FacesParams(), train, FeatureCache(tmp_path / "cache"), (), 1)
    card = result.card
    assert (card.backbone, card.weights, card.weights_identity, card.n_features) == ("quarters", None, None, 12)
    assert card.weights_description == "mean colours of four quarters" and card.feature_key == "quarters|v1"
    save_recogniser(tmp_path / "model.keras", result.model, card)
    recogniser = Recogniser.load(tmp_path / "model.keras")
    assert recogniser.numpy_head is not None  # it saves no base: the head alone, run as numpy
    for _, face in split[split["subset"] == "test"].iterrows():
        [identity] = recogniser.identify_in_photo(load_image(face["path"]), [Box(0, 0, 32, 32)])
        assert identity.label == face["person"]
