"""The feature cache, with a real (randomly initialised) VGG16 base on tiny faces."""

import numpy as np
import pytest

from faceops.core.errors import FaceopsError
from faceops.core.params import AugmentParams
from faceops.data.faces import extract_faces
from faceops.data.images import load_image
from faceops.model.backbones.vgg16 import (
    PRECISION_VARIABLE,
    Vgg16Extractor,
    base_precision,
    build_vgg16_base,
    weights_identity,
)
from faceops.model.features import (
    ORIGINAL,
    FaceFile,
    FeatureCache,
    Variant,
    compute_features,
    table_checksum,
    training_variants,
)


@pytest.fixture(scope="module")
def faces(tmp_path_factory, lfw):
    root = tmp_path_factory.mktemp("cache")
    raw = root / "raw" / "Tony_Blair"
    raw.mkdir(parents=True)
    for photo in sorted((lfw / "Tony_Blair").iterdir())[:4]:
        raw.joinpath(photo.name).write_bytes(photo.read_bytes())
    by_size = {}
    for size in (32, 40):
        manifest = extract_faces(root / "raw", root / f"faces{size}", size).manifest
        by_size[size] = [FaceFile(row["sha256"], row["path"], row["source"], row["box"]) for row in manifest]
    return by_size


def _extractor(size: int) -> Vgg16Extractor:
    return Vgg16Extractor(build_vgg16_base(None, size, seed=1), weights_identity(None, 1), size)


def test_second_run_is_a_hit(tmp_path, faces):
    files = faces[32]
    extractor = _extractor(32)
    first = FeatureCache(tmp_path)
    features = first.features(extractor, files)
    assert features.shape == (4, 512)
    assert (first.hits, first.misses) == (0, 4)

    second = FeatureCache(tmp_path)
    again = second.features(extractor, files)
    assert (second.hits, second.misses) == (4, 0)
    np.testing.assert_allclose(again, features)
    np.testing.assert_allclose(extractor(load_image(files[0].crop)[None]), features[:1], atol=1e-5)


def test_image_size_change_is_a_miss(tmp_path, faces):
    cache = FeatureCache(tmp_path)
    cache.features(_extractor(32), faces[32])
    other = FeatureCache(tmp_path)
    other.features(_extractor(40), faces[40])
    assert (other.hits, other.misses) == (0, 4)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_new_images_only_compute_the_new_ones(tmp_path, faces):
    files = faces[32]
    extractor = _extractor(32)
    FeatureCache(tmp_path).features(extractor, files[:2])
    cache = FeatureCache(tmp_path)
    cache.features(extractor, files)
    assert (cache.hits, cache.misses) == (2, 2)


def test_variants_are_cached_separately_and_differ(tmp_path, faces):
    files = faces[32]
    extractor = _extractor(32)
    variants = training_variants(AugmentParams(flip=True, copies=1), 0, "vgg16")
    assert [v.key.split("|")[0] for v in variants] == ["original", "flip", "jitter0"]
    assert [v.label for v in training_variants(AugmentParams(), 0, "dlib_resnet")] == ["original"]
    assert [v.label for v in training_variants(AugmentParams(), 0, "vgg16")] == ["original", "flip"]
    assert [v.label for v in training_variants(AugmentParams(flip=True), 0, "dlib_resnet")] == ["original", "flip"]
    cache = FeatureCache(tmp_path)
    outputs = [cache.features(extractor, files, v) for v in variants]
    assert cache.misses == 12
    assert not np.allclose(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    again = FeatureCache(tmp_path)
    np.testing.assert_allclose(again.features(extractor, files, variants[2]), outputs[2])
    assert again.hits == 4


def test_wrong_face_size_names_the_file(tmp_path, faces):
    files = faces[40]
    with pytest.raises(FaceopsError, match=r"face is 40x40 px, the model expects 32x32"):
        FeatureCache(tmp_path).features(_extractor(32), files, ORIGINAL)


def test_weights_errors(tmp_path):
    with pytest.raises(FaceopsError, match=r"nope\.h5: weights file not found"):
        build_vgg16_base(str(tmp_path / "nope.h5"), 32, seed=0)
    bad = tmp_path / "bad.h5"
    bad.write_text("not weights")
    with pytest.raises(FaceopsError, match=r"bad\.h5: not a VGG16 \(no top\) weights file"):
        build_vgg16_base(str(bad), 32, seed=0)
    with pytest.raises(FaceopsError, match=r"VGG16 needs at least 32 px"):
        build_vgg16_base(None, 16, seed=0)


def _damage_truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_empty(path):
    path.write_bytes(b"")


def _damage_bit_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the features array
    path.write_bytes(bytes(data))


def _damage_wrong_shape(path):
    """A well-formed file, checksum and all, whose vectors are not this extractor's 512 features."""
    with np.load(path) as stored:
        shas = stored["sha256"].tolist()
    features = np.ones((len(shas), 7), dtype="float32")
    np.savez(path.open("wb"), sha256=np.array(shas), features=features, checksum=table_checksum(shas, features))


def _damage_noise(path):
    """Valid layout and shape, but values someone replaced without the checksum that goes with them."""
    with np.load(path) as stored:
        shas, checksum, features = stored["sha256"], stored["checksum"], stored["features"]
    noise = np.random.default_rng(0).normal(size=features.shape).astype("float32")
    np.savez(path.open("wb"), sha256=shas, features=noise, checksum=checksum)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_damage_truncated, "unreadable"),
        (_damage_empty, "unreadable"),
        (_damage_bit_flip, ""),  # a CRC or checksum failure, depending on where the bit lands
        (_damage_wrong_shape, "features of shape (4, 7), expected (4, 512)"),
        (_damage_noise, "checksum mismatch"),
    ],
    ids=["truncated", "empty", "bit-flipped", "wrong-shape", "noise"],
)
def test_a_damaged_cache_file_is_named_once_and_recomputed(tmp_path, faces, caplog, damage, reason):
    files = faces[32]
    extractor = _extractor(32)
    good = FeatureCache(tmp_path).features(extractor, files)
    [cache_file] = tmp_path.glob("*.npz")
    damage(cache_file)
    cache = FeatureCache(tmp_path)
    with caplog.at_level("WARNING", logger="faceops.model.features"):
        again = cache.features(extractor, files)
        cache.features(extractor, files)  # the same cache again: no second warning
    np.testing.assert_allclose(again, good, atol=1e-5)  # recomputed, never the damaged values
    assert (cache.hits, cache.misses) == (4, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(cache_file) in warnings[0] and reason in warnings[0], warnings
    assert "recomputing" in warnings[0]
    fresh = FeatureCache(tmp_path)  # the damaged file was replaced by a good one
    np.testing.assert_allclose(fresh.features(extractor, files), good, atol=1e-5)
    assert fresh.damaged == [] and fresh.hits == 4


class _Failing:
    """Wraps an extractor and fails on its third batch, as a killed or crashing run would stop."""

    def __init__(self, inner, directory):
        self.inner, self.calls, self.directory, self.on_disk = inner, 0, directory, None
        self.name, self.image_size, self.parallel, self.from_photo = inner.name, inner.image_size, False, False
        self.key, self.n_features, self.precision = inner.key, inner.n_features, inner.precision

    def stream(self, inputs, batch_size=None):
        for batch in self.inner.stream(inputs, batch_size):
            self.calls += 1
            if self.calls == 3:
                [saved] = self.directory.glob("*.npz")  # what a SIGKILL now would leave
                with np.load(saved) as stored:
                    self.on_disk = len(stored["sha256"])
                raise RuntimeError("stopped mid-way")
            yield batch


def test_an_interrupted_run_keeps_what_it_computed(tmp_path, faces):
    files = faces[32]
    failing = _Failing(_extractor(32), tmp_path)
    with pytest.raises(RuntimeError, match="stopped mid-way"):
        FeatureCache(tmp_path, batch_size=1, save_every=2).features(failing, files)
    assert failing.on_disk == 2  # saved as it went, not only at the end
    cache = FeatureCache(tmp_path, batch_size=1)
    cache.features(_extractor(32), files)
    assert (cache.hits, cache.misses) == (2, 2)


def _cosines(a, b):
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("variant", [ORIGINAL, Variant("flip"), Variant("jitter", AugmentParams(copies=1), 3)])
def test_the_input_pipeline_gives_the_features_of_the_plain_path(tmp_path, faces, variant):
    """The cache's input pipeline (files decoded by TensorFlow, the mirror in the graph, the jitter through
    numpy; batches of 3 for a short last one) gives today's features: load_face, Variant.apply, the extractor."""
    files = faces[32] * 2  # the same crops twice over: 8 faces, one computation each
    extractor = _extractor(32)
    streamed = FeatureCache(tmp_path, batch_size=3).features(extractor, files, variant)
    _, plain = compute_features(extractor, variant, files)
    assert streamed.shape == (8, 512)
    assert _cosines(streamed, plain).min() >= 0.9999
    np.testing.assert_allclose(streamed, plain, rtol=1e-5, atol=1e-5)


def test_the_cache_key_of_full_precision_is_unchanged(faces):
    """Features cached before the input pipeline stay hits: a float32 extractor keys them as it always did."""
    extractor = _extractor(32)
    assert extractor.precision == "float32"
    assert extractor.key == f"vgg16|{weights_identity(None, 1)}|32"


def test_an_unreadable_crop_is_named(tmp_path, faces):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    files = [*faces[32][:2], FaceFile("0" * 64, str(broken)), faces[32][2]]
    with pytest.raises(FaceopsError, match=r"broken\.png: not a JPEG, PNG, WebP or BMP image"):
        FeatureCache(tmp_path / "cache", batch_size=2).features(_extractor(32), files)


def test_a_large_set_is_written_in_a_few_growing_chunks(tmp_path, faces, monkeypatch):
    """Saved after `save_every` faces, then each time as many again as the file holds (2, 4, 8, ... faces):
    the whole set is written about twice, not once every few hundred faces."""
    files = [FaceFile(f"{i:064x}", face.crop) for i, face in enumerate(faces[32] * 4)]  # 16 distinct faces
    saved = []
    original = FeatureCache._save
    monkeypatch.setattr(
        FeatureCache, "_save", staticmethod(lambda path, table: (saved.append(len(table)), original(path, table)))
    )
    FeatureCache(tmp_path, batch_size=1, save_every=2).features(_extractor(32), files)
    assert saved == [2, 4, 8, 16]


def test_the_precision_setting(monkeypatch):
    monkeypatch.delenv(PRECISION_VARIABLE, raising=False)
    assert base_precision() == "float32"  # no GPU here: auto is full precision
    monkeypatch.setenv(PRECISION_VARIABLE, "bfloat16")
    assert base_precision() == "mixed_bfloat16"
    assert base_precision("float16") == "mixed_float16"
    monkeypatch.setenv(PRECISION_VARIABLE, "half")
    with pytest.raises(FaceopsError, match=r"FACEOPS_PRECISION is 'half'; allowed: auto, float32, bfloat16, float16"):
        base_precision()


def test_bfloat16_features_agree_with_float32_on_every_face(tmp_path, faces):
    """The base in bfloat16 (on by default on a GPU; here on the CPU, emulated) describes every face as float32
    does, to a cosine of 0.999, and its features are cached apart."""
    files = faces[32]
    full = _extractor(32)
    try:
        half = Vgg16Extractor(build_vgg16_base(None, 32, seed=1, precision="mixed_bfloat16"), full.identity, 32)
        halved = FeatureCache(tmp_path).features(half, files)
    except Exception as exc:  # noqa: BLE001 - whatever this TensorFlow build says when it has no bfloat16 kernels
        pytest.skip(f"this TensorFlow cannot run VGG16 in bfloat16 on this CPU: {type(exc).__name__}: {exc}")
    assert half.precision == "mixed_bfloat16" and half.key == full.key + "|mixed_bfloat16"
    cosines = _cosines(halved, FeatureCache(tmp_path).features(full, files))
    assert cosines.min() >= 0.999, cosines
    assert len(list(tmp_path.glob("*.npz"))) == 2
