"""One layout: every path dvc.yaml names is a place of faceops.core.layout, and no module spells a project path."""

from support.layout import REPO

from faceops.core.layout import LAYOUT


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
