"""One layout: every path dvc.yaml names is a place of faceops.core.layout, and no module spells a project path."""

import re
from pathlib import Path

import yaml

from faceops.core.layout import LAYOUT, Layout

REPO = Path(__file__).resolve().parents[1]


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


def test_no_module_spells_a_project_path():
    """Every path the layout names is spelled in faceops/core/layout.py alone (as a whole string constant)."""
    import ast

    places = {path for path in LAYOUT.paths().values() if "/" in path or path.startswith(".")}  # not bare words
    spelled = []
    for module in sorted([*(REPO / "faceops").rglob("*.py"), *(REPO / "stages").glob("*.py")]):
        if module == REPO / "faceops/core/layout.py":
            continue
        tree = ast.parse(module.read_text())
        field_names = {  # LAYOUT.at(root, "receipts") names a field, not a path
            id(arg)
            for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "at"
            for arg in call.args
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in places and id(node) not in field_names:
                spelled.append(f"{module.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert spelled == [], "use faceops.core.layout.LAYOUT instead"
