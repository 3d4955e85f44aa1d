"""The backbone registry: every backbone registered once, the names params.yaml accepts are the registered ones,
nothing outside the registry decides by a backbone's name, and a new backbone needs nothing but registering."""

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

import faceops.core.params as core_params
import faceops.model.card as card_module
from faceops.core.errors import FaceopsError
from faceops.core.params import BACKBONE_NAMES, AugmentParams, FacesParams, TrainParams, load_params
from faceops.data.detect import Box
from faceops.data.images import load_image, sha256_file
from faceops.model.backbones import BACKBONES, Backbone, Finding, Inputs, backbone_names, get_backbone
from faceops.model.backbones.base import serial_stream
from faceops.model.features import FeatureCache, training_variants
from faceops.ops.doctor import check_backbones

PACKAGE = Path(__file__).resolve().parents[1] / "faceops"
REGISTRY = PACKAGE / "model" / "backbones"


def test_the_registry_holds_the_names_params_accept():
    assert backbone_names() == BACKBONE_NAMES == ("vgg16", "dlib_resnet")
    for name in BACKBONE_NAMES:
        backbone = get_backbone(name)
        assert isinstance(backbone, Backbone) and backbone.name == name
    with pytest.raises(FaceopsError, match="backbone 'resnet' is not registered; registered: vgg16, dlib_resnet"):
        get_backbone("resnet")


def test_each_backbone_states_its_facts():
    vgg16, dlib = get_backbone("vgg16"), get_backbone("dlib_resnet")
    assert (vgg16.embedding_size, vgg16.input_size(96), vgg16.mirrors_help, vgg16.saves_base) == (512, 96, True, True)
    assert (dlib.embedding_size, dlib.input_size(96), dlib.mirrors_help, dlib.saves_base) == (128, 150, False, False)
    assert vgg16.weights_setting("imagenet") == "imagenet" and dlib.weights_setting("imagenet") is None
    extractor = dlib.build("imagenet", 96, 0, 0.2)
    assert (extractor.n_features, extractor.identity, extractor.saved_base) == (128, None, None)


def _branches_on_a_name(path: Path) -> list[str]:
    """Comparisons (==, !=, in) and match cases with a registered backbone's name as a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            literals = [c for o in operands for c in ([o, *getattr(o, "elts", [])])]
        elif isinstance(node, ast.MatchValue):
            literals = [node.value]
        else:
            continue
        if any(isinstance(c, ast.Constant) and c.value in BACKBONE_NAMES for c in literals):
            found.append(f"{path}:{node.lineno}")
    return found


def test_nothing_outside_the_registry_branches_on_a_backbone_name():
    outside = [path for path in sorted(PACKAGE.rglob("*.py")) if REGISTRY not in path.parents]
    assert [hit for path in outside for hit in _branches_on_a_name(path)] == []


def test_the_check_finds_a_branch_on_a_name(tmp_path):
    (tmp_path / "bad.py").write_text('def f(backbone):\n    return 1 if backbone in ("vgg16",) else 2\n')
    assert _branches_on_a_name(tmp_path / "bad.py") == [f"{tmp_path / 'bad.py'}:2"]


# A new backbone, known only to the registry (and to core's names): mean colours of the crop's four quarters.


@dataclass
class _QuartersExtractor:
    image_size: int
    name: str = "quarters"
    parallel: bool = False
    from_photo: bool = False
    identity: None = None
    saved_base: None = None
    n_features: int = 12
    key: str = "quarters|v1"
    precision: str = "float32"

    def inputs_from_photo(self, rgb, boxes):
        return np.stack([rgb[b.y : b.y + b.height, b.x : b.x + b.width] for b in boxes])

    def __call__(self, inputs):
        half = inputs.shape[1] // 2
        quarters = [inputs[:, r : r + half, c : c + half] for r in (0, half) for c in (0, half)]
        return np.concatenate([q.mean(axis=(1, 2)) / 255 for q in quarters], axis=1).astype("float32")

    def stream(self, inputs, batch_size=None):
        return serial_stream(self, inputs, batch_size or 32)


class _Quarters(Backbone):
    name = "quarters"
    embedding_size = 12
    mirrors_help = False
    uses_weights = False
    saves_base = False

    def input_size(self, image_size):
        return image_size

    def build(self, weights, image_size, seed, margin):
        return _QuartersExtractor(image_size)

    def from_model(self, card, model):
        return _QuartersExtractor(card.image_size)

    def describe(self, weights):
        return "mean colours of four quarters"

    def doctor_check(self, weights, used, reachable):
        return Finding("OK", f"nothing to install ({'used' if used else 'not used'})")


@pytest.fixture
def quarters(monkeypatch):
    """`_Quarters` registered, its name added to core's names (as the params module and the card read them)."""
    names = (*BACKBONE_NAMES, "quarters")
    monkeypatch.setattr(core_params, "BACKBONE_NAMES", names)
    monkeypatch.setattr(card_module, "BACKBONE_NAMES", names)
    monkeypatch.setitem(BACKBONES, "quarters", _Quarters())
    return BACKBONES["quarters"]


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


def test_the_plain_input_pipeline_keeps_items_in_order_across_batches():
    """serial_stream (dlib's, and a new backbone's): items of 0, 2, 1 and 3 faces, about 2 faces a batch, come
    back as (item numbers, features) in order, an item's faces together, an item without faces absent."""
    counts = [0, 2, 1, 3]

    def load(item):
        return np.full((counts[item], 4, 4, 3), item, dtype="uint8")

    batches = list(serial_stream(lambda faces: faces[:, 0, 0, :1].astype("float32"), Inputs(4, load), 2))
    assert [items.tolist() for items, _ in batches] == [[1, 1], [2, 3, 3, 3]]
    assert np.concatenate([features for _, features in batches]).ravel().tolist() == [1, 1, 2, 3, 3, 3]
