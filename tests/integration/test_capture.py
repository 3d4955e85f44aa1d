"""`faceops capture` from a video made of real LFW photos, from a folder, and from a missing camera."""

import subprocess

import cv2
import numpy as np
import pytest
from helpers import tool_env
from PIL import Image, ImageFilter

from faceops.core.params import FacesParams
from faceops.data.capture import capture
from faceops.data.detect import FaceDetector
from faceops.data.gates import CaptureSettings


def test_capture_from_video_drops_repeated_frames(tmp_path, video):
    summary = capture("Me", str(video), tmp_path / "raw")
    assert [p.name for p in summary.saved] == [f"Me_{i:04d}.jpg" for i in range(1, 6)]
    assert summary.frames == 15 and summary.rejected["duplicate"] == 10
    for path in summary.saved:
        with Image.open(path) as photo:
            assert photo.format == "JPEG" and photo.width >= 100
    again = capture("Me", str(video), tmp_path / "raw")
    assert again.saved == [] and again.rejected["duplicate"] == 15  # compared with the photos already saved


@pytest.fixture
def sitting_still(tmp_path, lfw):
    """A person in front of a webcam: 8 different LFW photos of one person, each held for a second (10 frames at
    10 fps) with a jitter of up to 2 pixels per frame, through MJPG compression."""
    path = tmp_path / "still.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (250, 250))
    rng = np.random.default_rng(7)
    for photo in sorted((lfw / "Tony_Blair").iterdir())[:8]:
        frame = cv2.imread(str(photo))
        for _ in range(10):
            dx, dy = rng.integers(-2, 3, size=2)
            shift = np.float32([[1, 0, dx], [0, 1, dy]])
            writer.write(cv2.warpAffine(frame, shift, (250, 250), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


def test_capture_saves_about_one_photo_per_distinct_look(tmp_path, sitting_still):
    summary = capture("Still", str(sitting_still), tmp_path / "raw", CaptureSettings(count=20))
    assert 8 <= len(summary.saved) <= 10, summary.lines()  # not twenty near-copies of the first second
    assert summary.frames == 80 and summary.rejected["duplicate"] >= 70
    assert summary.variety >= 14
    assert "variety: saved faces differ in a median" in "\n".join(summary.lines())


def test_a_later_capture_adds_after_the_last_number(tmp_path, video, sitting_still):
    capture("Me", str(video), tmp_path / "raw")
    more = capture("Me", str(sitting_still), tmp_path / "raw", CaptureSettings(count=2))
    assert [p.name for p in more.saved] == ["Me_0006.jpg", "Me_0007.jpg"]  # adds, never overwrites
    assert sorted(p.name for p in (tmp_path / "raw" / "Me").iterdir()) == [f"Me_{i:04d}.jpg" for i in range(1, 8)]


def test_camera_mode_prompts_for_variety(tmp_path, sitting_still, monkeypatch):
    """A camera cannot run here: its frames come from the video (a mock at the device boundary)."""
    import faceops.data.capture as capturing

    real = capturing.frames_from
    monkeypatch.setattr(capturing, "frames_from", lambda source: real(str(sitting_still)))
    told = []
    summary = capture("Cam", "0", tmp_path / "raw", CaptureSettings(count=8, interval=0.0), prompt=told.append)
    assert told[0] == "look straight at the camera" and len(told) == min(8, len(summary.saved) + 1)
    assert len(set(told)) == len(told)


def test_capture_from_folder_counts_every_reason(tmp_path, lfw):
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted((lfw / "Colin_Powell").iterdir())[:3]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    Image.fromarray(np.full((250, 250, 3), 127, np.uint8)).save(folder / "wall.jpg")
    pair = Image.new("RGB", (500, 250))
    pair.paste(Image.open(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"), (0, 0))
    pair.paste(Image.open(lfw / "Colin_Powell" / "Colin_Powell_0010.jpg"), (250, 0))
    pair.save(folder / "pair.jpg")
    Image.open(lfw / "Colin_Powell" / "Colin_Powell_0011.jpg").resize((90, 90)).save(folder / "far.jpg")
    Image.open(lfw / "Colin_Powell" / "Colin_Powell_0012.jpg").filter(ImageFilter.GaussianBlur(6)).save(
        folder / "shaky.jpg"
    )

    # Haar down to 40 px: it still finds the far and the blurred face, so capture's own gates are what refuse them.
    haar = FaceDetector(FacesParams(detector="haar", min_face_size=40))
    summary = capture("Colin", str(folder), tmp_path / "raw", detector=haar)
    assert len(summary.saved) == 3
    assert dict(summary.rejected) == {
        "unreadable": 2,
        "no face": 1,
        "several faces": 1,
        "too small": 1,
        "too blurry": 1,
    }
    assert summary.examples["several faces"] == "pair.jpg"
    assert summary.examples["unreadable"] == "broken.jpg: corrupt or truncated image (Truncated File Read)"
    text = "\n".join(summary.lines())
    assert "3 photos of Colin saved" in text and "rejected, too blurry: 1 (e.g. shaky.jpg: sharpness" in text


def test_cli_missing_camera_is_one_line_and_nonzero(tmp_path):
    result = subprocess.run(
        ["faceops", "capture", "--person", "Me", "--source", "7"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: camera 7: cannot be opened (is it connected, and free?)"
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_cli_capture_prints_summary_and_next_steps(tmp_path, video):
    result = subprocess.run(
        ["faceops", "capture", "--person", "Me", "--source", str(video), "--count", "3"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 photos of Me saved to dataset/raw/Me from ")
    assert lines[-1].startswith("next: dvc add dataset/raw && git add dataset && git commit")
