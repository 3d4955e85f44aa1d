"""The numpy forward pass of a dlib model's head computes what Keras computes."""

import numpy as np
import pytest

from faceops.backbones import DlibExtractor, keras_module
from faceops.model import NumpyHead, assemble, build_head


@pytest.mark.parametrize(
    "kind, activation",
    [
        ("dense", "relu"),
        ("dense", "gelu"),
        ("dense", "elu"),
        ("dense", "tanh"),
        ("dense", "sigmoid"),
        ("logistic", "relu"),
    ],
)
def test_numpy_head_matches_keras(tmp_path, kind, activation):
    rng = np.random.default_rng(3)
    features = rng.normal(loc=0.3, scale=2.0, size=(64, 128)).astype("float32")
    keras_module().utils.set_random_seed(1)
    head = build_head(features, 5, kind, 32, 0.5, activation)
    model = assemble(DlibExtractor(96, 0.2), head)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(features, rng.integers(0, 5, size=64), epochs=2, verbose=0)  # weights that are not the initial ones
    model.save(tmp_path / "model.keras")

    expected = np.asarray(head.predict_on_batch(features))
    actual = NumpyHead.from_keras_file(tmp_path / "model.keras")(features)
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    assert actual.shape == (64, 5)
