"""Helpers of tests/*/test_backbones.py, shared by its tiers."""

from dataclasses import dataclass

import numpy as np
import pytest

import faceops.core.params as core_params
import faceops.model.card as card_module
from faceops.core.params import BACKBONE_NAMES
from faceops.model.backbones import BACKBONES, Backbone, Finding
from faceops.model.backbones.base import serial_stream


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
