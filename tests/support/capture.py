"""Helpers of tests/*/test_capture.py, shared by its tiers."""

import cv2
import pytest


@pytest.fixture
def video(tmp_path, lfw):
    """Five different photos of one person, each held for three frames (an MJPG .avi, 250x250, 10 fps)."""
    path = tmp_path / "me.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (250, 250))
    assert writer.isOpened()
    for photo in sorted((lfw / "Tony_Blair").iterdir())[:5]:
        frame = cv2.imread(str(photo))
        for _ in range(3):
            writer.write(frame)
    writer.release()
    return path
