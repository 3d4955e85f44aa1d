"""Helpers of tests/*/test_dlib.py, shared by its tiers."""

import numpy as np
import pytest

from faceops.data.detect import Box
from faceops.data.faces import extract_faces
from faceops.data.images import load_image
from faceops.model.backbones.dlib_resnet import DlibExtractor


@pytest.fixture(scope="module")
def descriptors(tmp_path_factory, lfw):
    root = tmp_path_factory.mktemp("dlib")
    for person in ("Tony_Blair", "Colin_Powell", "Serena_Williams"):
        (root / "raw" / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:4]:
            (root / "raw" / person / photo.name).write_bytes(photo.read_bytes())
    manifest = extract_faces(root / "raw", root / "faces", 96).manifest
    extractor = DlibExtractor(96, margin=0.2)
    chips = [extractor.inputs_from_photo(load_image(row["source"]), [Box.parse(row["box"])])[0] for row in manifest]
    return extractor(np.stack(chips)), np.array([row["person"] for row in manifest]), manifest
