"""The package's walls: each layer imports only from itself and the layers below it (docs/architecture.md)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "faceops"
LAYERS = ["core", "data", "model", "records", "release", "people", "service", "ops", "cli"]  # bottom to top


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """Every import (at module level or inside a function) of a faceops layer above the importing module's."""
    found = []
    for path in sorted(package.rglob("*.py")):
        layer = path.relative_to(package).parts[0]
        if layer not in LAYERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] if node.module != "faceops" else [f"faceops.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if (
                    parts[0] == "faceops"
                    and len(parts) > 1
                    and parts[1] in LAYERS
                    and (LAYERS.index(parts[1]) > LAYERS.index(layer))
                ):
                    found.append(f"faceops/{path.relative_to(package)}:{node.lineno} imports {name}")
    return sorted(set(found))


def test_every_module_lives_in_a_layer():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside the layers: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()) == sorted(LAYERS)


def test_no_import_points_up_a_layer():
    assert upward_imports() == []


def test_the_check_finds_an_upward_import(tmp_path):
    """The check itself can fail: a core module that imports the service is reported with its line."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core/bad.py").write_text("def f():\n    from faceops.service.app import create_app\n")
    assert upward_imports(tmp_path) == ["faceops/core/bad.py:2 imports faceops.service.app"]


def test_the_service_never_imports_the_camera_code():
    """faceops serve needs the intake gates (faceops.data.gates), not the camera and video loop of capture."""
    found = []
    for path in sorted((PACKAGE / "service").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "faceops.data.capture":
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []
