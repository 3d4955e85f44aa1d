"""The numpy forward pass of a dlib model's head computes what Keras computes."""

import numpy as np
import pytest

from faceops.model.backbones import keras_module
from faceops.model.backbones.dlib_resnet import DlibExtractor
from faceops.model.recogniser import NumpyHead, assemble, build_head


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


def test_sklearn_head_is_saved_as_a_keras_softmax_and_loads_as_any_head(tmp_path):
    """scikit-learn's logistic regression, C chosen on the validation share, lives on in the .keras file."""
    from faceops.model.train import SKLEARN_C_GRID, fit_sklearn_logistic

    rng = np.random.default_rng(5)
    centres = rng.normal(size=(4, 128))
    y_fit, y_val = np.repeat(np.arange(4), 20), np.repeat(np.arange(4), 5)
    x_fit = (centres[y_fit] + rng.normal(scale=1.5, size=(80, 128))).astype("float32")
    x_val = (centres[y_val] + rng.normal(scale=1.5, size=(20, 128))).astype("float32")
    head = build_head(x_fit, 4, "logistic", 32, 0.5, "relu")
    history, chosen = fit_sklearn_logistic(x_fit, y_fit, x_val, y_val, 4, None, head)
    assert [row["C"] for row in history] == list(SKLEARN_C_GRID) and chosen in history
    assert chosen["val_accuracy"] == max(row["val_accuracy"] for row in history)
    assemble(DlibExtractor(96, 0.2), head).save(tmp_path / "model.keras")
    probabilities = NumpyHead.from_keras_file(tmp_path / "model.keras")(x_val)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == y_val) == pytest.approx(chosen["val_accuracy"])
