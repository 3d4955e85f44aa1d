"""`faceops capture` from a video made of real LFW photos, from a folder, and from a missing camera."""

import pytest

from faceops.core.errors import FaceopsError
from faceops.data.capture import capture


def test_bad_sources_and_names(tmp_path):
    with pytest.raises(FaceopsError, match=r"^camera 9: cannot be opened"):
        capture("Me", "9", tmp_path)
    with pytest.raises(FaceopsError, match=r"nope\.mp4: no such camera index, video file or folder"):
        capture("Me", str(tmp_path / "nope.mp4"), tmp_path)
    text = tmp_path / "fake.mp4"
    text.write_text("not a video")
    with pytest.raises(FaceopsError, match=r"fake\.mp4: cannot be read as a video"):
        capture("Me", str(text), tmp_path)
    with pytest.raises(FaceopsError, match=r"--person: person name '\.me' is hidden"):
        capture(".me", str(text), tmp_path)
    assert not (tmp_path / "Me").exists()
