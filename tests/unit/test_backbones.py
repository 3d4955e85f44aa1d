"""The backbone registry: every backbone registered once, the names params.yaml accepts are the registered ones,
nothing outside the registry decides by a backbone's name, and a new backbone needs nothing but registering."""

import ast
from pathlib import Path

import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.core.params import BACKBONE_NAMES
from faceops.model.backbones import Backbone, Inputs, backbone_names, get_backbone
from faceops.model.backbones.base import serial_stream

PACKAGE = Path(__file__).resolve().parents[2] / "faceops"
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


def test_the_plain_input_pipeline_keeps_items_in_order_across_batches():
    """serial_stream (dlib's, and a new backbone's): items of 0, 2, 1 and 3 faces, about 2 faces a batch, come
    back as (item numbers, features) in order, an item's faces together, an item without faces absent."""
    counts = [0, 2, 1, 3]

    def load(item):
        return np.full((counts[item], 4, 4, 3), item, dtype="uint8")

    batches = list(serial_stream(lambda faces: faces[:, 0, 0, :1].astype("float32"), Inputs(4, load), 2))
    assert [items.tolist() for items, _ in batches] == [[1, 1], [2, 3, 3, 3]]
    assert np.concatenate([features for _, features in batches]).ravel().tolist() == [1, 1, 2, 3, 3, 3]
