"""One layout: every path dvc.yaml names is a place of faceops.core.layout, and no module spells a project path."""

import re
from pathlib import Path

import yaml
from support.layout import REPO

from faceops.core.layout import LAYOUT, Layout


def _dvc_yaml_paths() -> set[str]:
    """The data paths of dvc.yaml: outs, non-code deps, and the paths its commands are given."""
    found = set()
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values():
        for entry in stage.get("outs", []) + stage.get("deps", []) + stage.get("metrics", []) + stage.get("plots", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            if not path.startswith(("faceops/", "stages/", "params.yaml")):
                found.add(path)
        found.update(
            re.findall(r"--[a-z-]+ ((?:dataset|data|models|metrics|reports|plots|\.faceops)/\S+)", stage["cmd"])
        )
    return found


def test_dvc_yaml_and_the_layout_agree():
    assert _dvc_yaml_paths() - set(LAYOUT.paths().values()) == set()


def test_a_layout_under_another_root():
    assert LAYOUT.at("/srv/p", "raw") == Path("/srv/p/dataset/raw")
    assert Layout(raw="photos").at(".", "raw") == Path("photos")
