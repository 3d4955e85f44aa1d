import os
import stat

import pytest

from faceops.core.atomic import atomic_dir, atomic_path, write_json


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"version": ')
        raise RuntimeError("crash mid-write")
    assert target.read_text().startswith('{\n  "version": 1')
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_outputs_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
        with atomic_dir(tmp_path / "faces") as staging:
            (staging / "x").write_text("x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "faces").stat().st_mode) == 0o755


def test_failed_directory_build_keeps_the_old_directory(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "old.png").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "faces") as staging:
        (staging / "new.png").write_text("new")
        raise RuntimeError("crash")
    assert [p.name for p in (tmp_path / "faces").iterdir()] == ["old.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["faces"]
