"""Where person data lives (faceops.people.inventory) and forget as a journal: a person's whole life through every door,
then forget, then every file of the project, its record store, DVC's site cache and the DVC remote read for their
name and hashes; and a real `faceops forget` killed half-way, then finished by running it again."""

import hashlib
import json

import numpy as np
from support.inventory import NAME

from faceops.people.inventory import CANNOT, CLEANED, KEPT, Needles, places_for, scan

# -- the inventory's scan on its own -------------------------------------------------------------------


def test_scan_names_the_place_of_each_finding(tmp_path):
    project, photo = tmp_path / "project", b"\xff\xd8 a photo of theirs"
    files = {
        f"dataset/raw/{NAME}/a.jpg": photo,
        "data/split.csv": f"path,person\nx.png,{NAME}\n".encode(),
        f"receipts/forget-{NAME}-20260101T000000Z.json": json.dumps({"person": NAME}).encode(),
        ".git/logs/HEAD": f"commit: capture: 4 photos of {NAME}\n".encode(),
        "notes/elsewhere.txt": f"met {NAME} today".encode(),  # a place no one told the inventory about
        "backup/copy.bin": photo,  # their photo under another name
        "data/faces.csv": b"path,person\nx.png,Somebody_Else\n",  # nothing of theirs
    }
    for relpath, data in files.items():
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_bytes(data)
    crop_sha = "ab" * 32
    (project / ".faceops/features").mkdir(parents=True)
    np.savez_compressed(project / ".faceops/features/t.npz", sha256=np.array([crop_sha]), features=np.zeros((1, 2)))
    needles = Needles(NAME, frozenset({hashlib.sha256(photo).hexdigest()}), frozenset({crop_sha}))

    hits, count = scan({"project": project}, needles, places_for(NAME))
    found = {hit.path: (hit.place.name if hit.place else None, hit.why) for hit in hits}
    assert count == len(files) + 1
    assert found == {
        f"dataset/raw/{NAME}/a.jpg": ("photos", "a copy of their photo or crop"),
        "data/split.csv": ("stage outputs", "names them"),
        f"receipts/forget-{NAME}-20260101T000000Z.json": ("receipts", "names them"),
        ".git/logs/HEAD": ("git history", "names them"),
        "notes/elsewhere.txt": (None, "names them"),
        "backup/copy.bin": (None, "a copy of their photo or crop"),
        ".faceops/features/t.npz": ("feature cache", f"names the hash {crop_sha}"),
    }
    handling = {place.name: place.handling for place in places_for(NAME)}
    assert handling["git history"] == CANNOT and handling["receipts"] == KEPT and handling["photos"] == CLEANED


# -- forget is a journal --------------------------------------------------------------------------------


# -- a whole life through every door, then forget ------------------------------------------------------
