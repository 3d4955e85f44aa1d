"""The backbones faceops can train on, registered once, by name: `get_backbone(name)` is how the rest of the code
learns what a backbone needs (faceops.model.backbones.base.Backbone), so that nothing else decides by its name.

A new backbone: a module here with a Backbone subclass, a line in `_REGISTERED`, and its name in
faceops.core.params.BACKBONE_NAMES (core, below this layer, checks params.yaml and model cards against it)."""

from __future__ import annotations

from faceops.core.errors import FaceopsError
from faceops.core.params import BACKBONE_NAMES
from faceops.model.backbones.base import Backbone, FeatureExtractor, Finding, Inputs, keras_module, keras_precision
from faceops.model.backbones.dlib_resnet import DlibResnet
from faceops.model.backbones.vgg16 import Vgg16

__all__ = [
    "BACKBONES",
    "Backbone",
    "FeatureExtractor",
    "Finding",
    "Inputs",
    "backbone_names",
    "get_backbone",
    "keras_module",
    "keras_precision",
]

_REGISTERED: tuple[Backbone, ...] = (Vgg16(), DlibResnet())
BACKBONES: dict[str, Backbone] = {backbone.name: backbone for backbone in _REGISTERED}

if tuple(BACKBONES) != BACKBONE_NAMES:  # a backbone registered here and not there, or the other way round
    raise RuntimeError(
        f"faceops.model.backbones registers {tuple(BACKBONES)}; faceops.core.params.BACKBONE_NAMES is "
        f"{BACKBONE_NAMES}: keep them equal, in the same order"
    )


def backbone_names() -> tuple[str, ...]:
    """The registered backbones' names, in registration order."""
    return tuple(BACKBONES)


def get_backbone(name: str) -> Backbone:
    """The registered backbone called `name` (train.backbone, a card's backbone)."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise FaceopsError(f"backbone {name!r} is not registered; registered: {', '.join(BACKBONES)}") from None
