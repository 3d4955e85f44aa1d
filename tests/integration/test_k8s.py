"""The Kubernetes manifests: each overlay renders with kustomize (kubectl's) and every object validates strictly
against a pinned Kubernetes version; the objects keep what docs/scale-out.md promises."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
KUBERNETES_VERSION = "1.32.0"


def tool(name: str) -> str:
    """A tool from this virtual environment (dev dependencies), else from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: `make install` puts it in .venv (dev dependencies)")
    return found


def render(overlay: str) -> tuple[str, list[dict]]:
    text = subprocess.run(
        [tool("kubectl"), "kustomize", str(OVERLAYS / overlay)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return text, [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_overlay_renders_and_validates_strictly(overlay, tmp_path):
    text, objects = render(overlay)
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(text)
    check = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION, str(rendered)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == [
        ("ConfigMap", "faceops-config"),
        ("Deployment", "dask-scheduler"),
        ("Deployment", "dask-worker"),
        ("Deployment", "faceops-serve"),
        ("Job", "faceops-train"),
        ("Namespace", "faceops"),
        ("PodDisruptionBudget", "faceops-serve"),
        ("Service", "dask-scheduler"),
        ("Service", "faceops"),
    ]
    assert all(o["metadata"].get("namespace") == "faceops" for o in objects if o["kind"] != "Namespace")


def test_validation_catches_a_wrong_field(tmp_path):
    """The check is strict: an unknown field fails (so the passing test above means something)."""
    _, objects = render("cpu")
    serve = find(objects, "Deployment", "faceops-serve")
    serve["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(serve))
    check = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION, str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode != 0
    assert "readinessProbes" in check.stdout + check.stderr


def test_service_replicas_probes_and_keys():
    _, objects = render("cpu")
    serve = find(objects, "Deployment", "faceops-serve")
    assert serve["spec"]["replicas"] >= 2
    pod = serve["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    keys = next(e for e in container["env"] if e["name"] == "FACEOPS_API_KEYS")
    assert keys["valueFrom"]["secretKeyRef"]["name"] == "faceops-api-keys"
    assert "dvc get" in " ".join(pod["initContainers"][0]["args"])
    config = find(objects, "ConfigMap", "faceops-config")["data"]
    assert config["FACEOPS_RECORDS"].startswith("remote://")  # the bucket form: shared by the replicas
    assert config["FACEOPS_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    assert container["image"] == "registry.example.org/faceops/serve:0.1.0"


def test_only_the_gpu_overlay_asks_for_a_gpu():
    def gpus(overlay: str) -> str | None:
        _, objects = render(overlay)
        job = find(objects, "Job", "faceops-train")["spec"]["template"]["spec"]["containers"][0]
        return job["resources"]["limits"].get("nvidia.com/gpu")

    assert gpus("gpu") == "1"
    assert gpus("cpu") is None
