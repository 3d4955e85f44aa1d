"""params.yaml and model.json as typed contracts: every bad value is refused with one line naming it."""

import yaml
from helpers import REPO, import_closure

# (section, key, bad value, what the message must say is allowed)


def test_stage_deps_cover_their_imports():
    """A change to any file a stage runs re-runs that stage: dvc.yaml lists its whole import closure."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for name, stage in pipeline["stages"].items():
        module = stage["cmd"].split("python -m ")[1].split()[0]
        script = REPO / (module.replace(".", "/") + ".py")
        code = {dep for dep in stage["deps"] if dep.startswith(("faceops/", "stages/"))}
        expected = {str(p) for p in import_closure(script)} | {str(script.relative_to(REPO)), "stages/__init__.py"}
        assert code == expected, f"stage {name}: missing {sorted(expected - code)}, extra {sorted(code - expected)}"
