"""The numpy forward pass of a dlib model's head computes what Keras computes; a VGG16 model's precision is saved,
recorded and loaded; batch prediction answers as prediction one photo at a time."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.data.images import load_image
from faceops.model.backbones import keras_module
from faceops.model.backbones.dlib_resnet import DlibExtractor
from faceops.model.backbones.vgg16 import Vgg16Extractor, build_vgg16_base
from faceops.model.card import ModelCard
from faceops.model.predict import FacePredictor
from faceops.model.recogniser import NumpyHead, Recogniser, assemble, build_head, save_recogniser

CARD = Path(__file__).resolve().parents[1] / "fixtures" / "card-v1.json"


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


def test_centroid_head_names_the_closest_reference_and_loads_as_numpy(tmp_path):
    """train.head centroid: the saved head's best is the person whose reference (the mean of every
    training face, the one the "unknown" threshold measures to) is closest, through Keras and the numpy pass; its
    history's validation figure comes from references made without the validation faces."""
    from faceops.model.recogniser import centroid_distances
    from faceops.model.scoring import centroids_chunked
    from faceops.model.train import TrainingFeatures, fit_centroid_head

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(5, 128))
    y_fit, y_val = np.repeat(np.arange(5), 4), np.arange(5)
    x_fit = (centres[y_fit] + rng.normal(scale=0.9, size=(20, 128))).astype("float32")
    x_val = (centres[y_val] + rng.normal(scale=0.9, size=(5, 128))).astype("float32")
    head = build_head(x_fit, 5, "centroid", 32, 0.5, "relu")
    history, last = fit_centroid_head(head, TrainingFeatures(x_fit, y_fit, x_val, y_val, 20, 0.0), 5)
    assert history == [last] and {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(last)
    assemble(DlibExtractor(96, 0.2), head).save(tmp_path / "model.keras")

    probe = (centres[rng.integers(0, 5, size=40)] + rng.normal(scale=1.2, size=(40, 128))).astype("float32")
    references = centroids_chunked(np.concatenate([x_fit, x_val]), np.concatenate([y_fit, y_val]), 5)
    closest = centroid_distances(probe, references).argmin(axis=1)
    numpy_probabilities = NumpyHead.from_keras_file(tmp_path / "model.keras")(probe)
    np.testing.assert_array_equal(numpy_probabilities.argmax(axis=1), closest)
    np.testing.assert_allclose(numpy_probabilities, np.asarray(head(probe, training=False)), atol=1e-5)
    held_out = centroid_distances(x_val, centroids_chunked(x_fit, y_fit, 5)).argmin(axis=1)
    assert last["val_accuracy"] == pytest.approx(np.mean(held_out == y_val))


def _vgg16_recogniser(precision: str = "float32") -> tuple[Vgg16Extractor, object, ModelCard]:
    """A 32-pixel VGG16 (random weights) with a 3-person head and a card to match (the fixture's people)."""
    card = ModelCard.read(CARD)
    extractor = Vgg16Extractor(build_vgg16_base(None, 32, 1, precision), card.weights_identity, 32)
    rng = np.random.default_rng(0)
    keras_module().utils.set_random_seed(1)
    head = build_head(rng.normal(size=(20, 512)).astype("float32"), 3, "dense", 8, 0.5, "relu")
    centroids = tuple(tuple(row) for row in np.eye(3, 512).tolist())
    open_set = dataclasses.replace(card.open_set, centroids=centroids, threshold=2.0)
    card = dataclasses.replace(card, image_size=32, n_features=512, feature_key=extractor.key, open_set=open_set)
    return extractor, assemble(extractor, head), card


def test_a_bfloat16_base_is_recorded_in_the_card_and_loads_as_trained(tmp_path):
    """A base trained in bfloat16 (a GPU's default) is saved as such, its card says so, and the loaded model
    describes faces as the trained one did, under the same feature-cache key; the head stays float32."""
    try:
        extractor, model, card = _vgg16_recogniser("mixed_bfloat16")
        faces = np.random.default_rng(2).integers(0, 256, size=(3, 32, 32, 3)).astype("uint8")
        trained = extractor(faces)
    except Exception as exc:  # noqa: BLE001 - whatever this TensorFlow build says when it has no bfloat16 kernels
        pytest.skip(f"this TensorFlow cannot run VGG16 in bfloat16 on this CPU: {type(exc).__name__}: {exc}")
    assert model.get_layer("head").dtype_policy.name == "float32"
    save_recogniser(tmp_path / "model.keras", model, card)
    loaded = Recogniser.load(tmp_path / "model.keras")
    assert loaded.card.precision == "mixed_bfloat16" and loaded.extractor.precision == "mixed_bfloat16"
    assert loaded.extractor.key == extractor.key == f"vgg16|{card.weights_identity}|32|mixed_bfloat16"
    np.testing.assert_array_equal(loaded.extractor(faces), trained)


def test_a_float32_model_card_says_float32(tmp_path):
    _, model, card = _vgg16_recogniser()
    save_recogniser(tmp_path / "model.keras", model, card)
    assert ModelCard.read(tmp_path / "model.json").precision == "float32"


def test_batch_prediction_answers_as_one_photo_at_a_time(tmp_path, lfw):
    """predict_many (the input pipeline, one face a batch so that a photo's faces span batches) gives each photo
    the answers `predict` gives it, in order, and an unreadable photo its error."""
    _, model, card = _vgg16_recogniser()
    card = dataclasses.replace(card, faces=dataclasses.replace(card.faces, min_face_size=40))
    predictor = FacePredictor(Recogniser(model, card))
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    photos = [*sorted((lfw / "Tony_Blair").iterdir())[:3], notes, *sorted((lfw / "Colin_Powell").iterdir())[:2]]
    answers = list(predictor.predict_many(photos, batch_size=1))
    assert [item for item, _ in answers] == list(range(len(photos)))
    assert isinstance(answers[3][1], FaceopsError) and "notes.jpg: not a JPEG" in str(answers[3][1])
    for (_, faces), photo in zip(answers, photos):
        if photo == notes:
            continue
        one = predictor.predict(load_image(photo))
        assert [(f.box, f.name, f.label) for f in faces] == [(f.box, f.name, f.label) for f in one]
        np.testing.assert_allclose([f.distance for f in faces], [f.distance for f in one], atol=1e-4)
    assert sum(len(faces) for item, faces in answers if item != 3) >= 5
