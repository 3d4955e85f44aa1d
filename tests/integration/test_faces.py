import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceops.core.params import FacesParams
from faceops.data.faces import extract_faces, write_faces_outputs
from faceops.data.images import load_image, sha256_file
from faceops.data.manifest import read_manifest


def _two_faces(lfw, path):
    left = Image.open(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg")
    right = Image.open(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg")
    canvas = Image.new("RGB", (500, 250))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (250, 0))
    canvas.save(path)


@pytest.fixture
def raw(tmp_path, lfw):
    """Two people with real photos, plus every kind of bad input the faces stage must account for."""
    root = tmp_path / "raw"
    for person in ("Tony_Blair", "Colin_Powell"):
        (root / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:3]:
            shutil.copy(photo, root / person / photo.name)
    odd = root / "Tony_Blair"
    Image.fromarray(np.tile(np.linspace(0, 255, 250, dtype=np.uint8), (250, 1))).convert("RGB").save(odd / "wall.jpg")
    data = (lfw / "Tony_Blair" / "Tony_Blair_0005.jpg").read_bytes()
    (odd / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (odd / "notes.jpg").write_text("this is not a photo")
    (odd / "notes.txt").write_text("neither is this")
    Image.open(lfw / "Tony_Blair" / "Tony_Blair_0006.jpg").resize((24, 24)).save(odd / "tiny.png")
    _two_faces(lfw, root / "Colin_Powell" / "pair.jpg")
    return root


def test_extract_faces_accounts_for_every_photo(tmp_path, raw):
    result = extract_faces(raw, tmp_path / "faces", 48, FacesParams())
    reasons = {row["source"].split("/")[-1]: (row["status"], row["reason"]) for row in result.report}
    assert reasons["wall.jpg"] == ("rejected", "no face found")
    assert reasons["truncated.jpg"][0] == "rejected" and "corrupt or truncated" in reasons["truncated.jpg"][1]
    assert reasons["notes.jpg"] == ("rejected", "not a JPEG, PNG, WebP or BMP image")
    assert reasons["notes.txt"] == ("rejected", "not an image file (extension .txt)")
    assert reasons["tiny.png"] == ("rejected", "too small (24x24 px; faces under 80 px are not detected)")
    assert reasons["pair.jpg"] == ("kept", "2 faces found, kept the largest")
    assert result.counts() == {"photos": 12, "faces": 7, "rejected": 5, "people": 2}

    for row in result.manifest:
        face = load_image(row["path"])
        assert face.shape == (48, 48, 3)
        assert sha256_file(row["path"]) == row["sha256"]
        assert len(row["box"].split(",")) == 4
    assert sorted(p.name for p in (tmp_path / "faces" / "Tony_Blair").iterdir()) == [
        "Tony_Blair_0001.png",
        "Tony_Blair_0002.png",
        "Tony_Blair_0003.png",
    ]


def test_reject_multiple_faces_when_asked(tmp_path, raw):
    result = extract_faces(raw, tmp_path / "faces", 48, FacesParams(multiple_faces="reject"))
    pair = [row for row in result.report if row["source"].endswith("pair.jpg")]
    assert pair == [
        {
            "source": str(raw / "Colin_Powell" / "pair.jpg"),
            "person": "Colin_Powell",
            "status": "rejected",
            "reason": "2 faces found",
        }
    ]


def test_outputs_replace_the_previous_run_whole(tmp_path, raw):
    out = tmp_path / "faces"
    (out / "Ghost").mkdir(parents=True)
    (out / "Ghost" / "old.png").write_bytes(b"stale")
    result = extract_faces(raw, out, 48)
    assert not (out / "Ghost").exists()
    write_faces_outputs(result, tmp_path / "faces.csv", tmp_path / "report.csv")
    manifest = read_manifest(tmp_path / "faces.csv")
    assert len(manifest) == 7 and set(manifest["person"]) == {"Tony_Blair", "Colin_Powell"}
    with open(tmp_path / "report.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_same_stem_keeps_both_photos(tmp_path, lfw):
    person = tmp_path / "raw" / "Tony_Blair"
    person.mkdir(parents=True)
    shutil.copy(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg", person / "me.jpg")
    Image.open(lfw / "Tony_Blair" / "Tony_Blair_0002.jpg").save(person / "me.png")
    result = extract_faces(tmp_path / "raw", tmp_path / "faces", 48)
    assert sorted(p.name for p in (tmp_path / "faces" / "Tony_Blair").iterdir()) == ["me_jpg.png", "me_png.png"]
    assert len(result.manifest) == 2


def test_same_named_photos_in_subfolders_get_their_own_crops(tmp_path, lfw):
    raw = tmp_path / "raw"
    for person, sources in {
        "Ann": ["Tony_Blair_0001.jpg", "Tony_Blair_0002.jpg"],
        "Bob": ["Tony_Blair_0003.jpg"],
    }.items():
        for i, source in enumerate(sources):
            folder = raw / person / f"cam{i + 1}"
            folder.mkdir(parents=True)
            shutil.copy(lfw / "Tony_Blair" / source, folder / "IMG_0001.jpg")
    shutil.copy(lfw / "Tony_Blair" / "Tony_Blair_0004.jpg", raw / "Bob" / "IMG_0001.jpg")
    shutil.copy(lfw / "Tony_Blair" / "Tony_Blair_0005.jpg", raw / "Bob" / "IMG_0001.png")
    result = extract_faces(raw, tmp_path / "faces", 48, FacesParams())
    names = sorted(str(Path(row["path"]).relative_to(tmp_path / "faces")) for row in result.manifest)
    assert names == [
        "Ann/cam1__IMG_0001.png",
        "Ann/cam2__IMG_0001.png",
        "Bob/IMG_0001_jpg.png",
        "Bob/IMG_0001_png.png",
        "Bob/cam1__IMG_0001.png",
    ]
    assert len({row["sha256"] for row in result.manifest}) == 5  # five photos, five different crops


@pytest.mark.parametrize("name", ["NA", "None", "null", "nan"])
def test_person_names_pandas_would_read_as_missing(tmp_path, lfw, name):
    raw = tmp_path / "raw"
    (raw / name).mkdir(parents=True)
    shutil.copy(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg", raw / name / "a.jpg")
    result = extract_faces(raw, tmp_path / "faces", 48, FacesParams())
    write_faces_outputs(result, tmp_path / "faces.csv", tmp_path / "report.csv")
    assert read_manifest(tmp_path / "faces.csv")["person"].tolist() == [name]


def test_16_bit_greyscale_png_is_scaled_not_clipped(tmp_path, lfw):
    import numpy as np

    grey = np.asarray(Image.open(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg").convert("L"), dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey * 257).save(path)  # the same picture in 16 bits
    assert Image.open(path).mode.startswith("I")
    rgb = load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (*grey.shape, 3)
    assert np.abs(rgb[:, :, 0].astype(int) - grey.astype(int)).max() <= 1


def test_crop_cache_detects_only_new_photos_and_worker_processes_agree(tmp_path, raw, lfw, caplog):
    cache = tmp_path / "crops"
    for person in ("Serena_Williams", "Hugo_Chavez"):  # enough photos (>= 64) for worker processes
        (raw / person).mkdir()
        for photo in sorted((lfw / person).iterdir())[:35]:
            shutil.copy(photo, raw / person / photo.name)
    with caplog.at_level("INFO", logger="faceops.data.faces"):
        serial = extract_faces(raw, tmp_path / "serial", 48, FacesParams(), workers=1)
        parallel = extract_faces(raw, tmp_path / "faces", 48, FacesParams(), cache_dir=cache, workers=2)
    assert "82 photos: 81 detected in" in caplog.text and "(2 process(es)), 0 reused" in caplog.text
    strip = lambda rows, folder: [{**row, "path": row["path"].replace(folder, "")} for row in rows]  # noqa: E731
    assert strip(parallel.manifest, "faces") == strip(serial.manifest, "serial")
    assert parallel.report == serial.report

    (raw / "Newcomer").mkdir()
    for photo in sorted((lfw / "Tony_Blair").iterdir())[10:15]:  # photos the cache has not seen
        shutil.copy(photo, raw / "Newcomer" / photo.name)
    caplog.clear()
    with caplog.at_level("INFO", logger="faceops.data.faces"):
        again = extract_faces(raw, tmp_path / "faces", 48, FacesParams(), cache_dir=cache, workers=2)
    assert "87 photos: 5 detected in" in caplog.text and "81 reused from the crop cache" in caplog.text
    assert again.counts()["people"] == parallel.counts()["people"] + 1
    assert [row for row in again.manifest if row["person"] != "Newcomer"] == parallel.manifest

    caplog.clear()
    with caplog.at_level("INFO", logger="faceops.data.faces"):
        extract_faces(raw, tmp_path / "faces", 48, FacesParams(margin=0.3), cache_dir=cache)
    assert "87 photos: 86 detected in" in caplog.text  # other settings: other crops
