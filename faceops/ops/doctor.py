"""`faceops doctor`: can this machine do the job? One row per check: OK, WARN or FAIL, with advice.

A person runs it after installing, and every CI build runs it first, so a missing GPU, an unreachable
DVC remote or a report with no recipients stops the build at the start instead of after hours of
training. It only looks: it downloads nothing, pushes nothing and never prints a secret.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from faceops.core import dvc, tools
from faceops.core.errors import FaceopsError
from faceops.core.params import Params, load_params, parse_addresses

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str  # what was found
    advice: str = ""  # one line: what to do about it


@dataclass(frozen=True)
class Requirements:
    """What this run of doctor treats as a failure rather than a warning."""

    gpu: bool = False
    mail: bool = False
    remote: bool = False


def _must(required: bool) -> str:
    return FAIL if required else WARN


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return Check(
        "python", OK if ok else FAIL, f"{version} at {sys.executable}", "" if ok else "use Python 3.10 or later"
    )


def check_keras() -> Check:
    from importlib import metadata

    from faceops.model.backbones import keras_module

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        keras = keras_module()
    except ImportError as exc:
        return Check("keras", FAIL, f"cannot import Keras with backend {backend}: {exc}", "pip install -e .")
    versions = [f"keras {keras.__version__}", f"backend {keras.backend.backend()}"]
    for package in ("tensorflow", "jax"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return Check("keras", OK, ", ".join(versions))


def gpu_devices() -> list[str]:
    """The GPUs the Keras backend can use (not just the ones the driver shows)."""
    from faceops.model.backbones import keras_module

    backend = keras_module().backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def gpu_versions() -> str:
    """The NVIDIA driver and the highest CUDA it supports (nvidia-smi), and the CUDA/cuDNN TensorFlow was built
    with: what to compare with the driver floor in docs/jenkins.md when a kernel fails to load."""
    found = []
    smi = tools.run(["nvidia-smi"], check=False) if shutil.which("nvidia-smi") else None
    if smi is not None and smi.returncode == 0:
        driver = re.search(r"Driver Version:\s*([\d.]+)", smi.stdout)
        cuda = re.search(r"CUDA Version:\s*([\d.]+)", smi.stdout)
        found.append(f"driver {driver.group(1) if driver else '?'} (CUDA {cuda.group(1) if cuda else '?'})")
    else:
        found.append("driver: nvidia-smi not found")
    with contextlib.suppress(ImportError):
        import tensorflow as tf

        build = tf.sysconfig.get_build_info()
        if build.get("is_cuda_build"):
            found.append(f"TensorFlow built with CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}")
    return ", ".join(found)


def gpu_matmul(size: int = 256) -> list[str]:
    """A small matrix product on every GPU the Keras backend sees, checked against numpy: listing a device does
    not load a kernel, and a driver too old for the CUDA libraries fails only then. Raises on the first failure."""
    import numpy as np

    from faceops.model.backbones import keras_module

    a = np.random.default_rng(0).standard_normal((size, size)).astype("float32")
    expected = a @ a
    backend = keras_module().backend.backend()
    results = []
    if backend == "tensorflow":
        import tensorflow as tf

        for device in tf.config.list_logical_devices("GPU"):
            with tf.device(device.name):
                got = tf.linalg.matmul(tf.constant(a), tf.constant(a)).numpy()
            results.append((device.name, got))
    elif backend == "jax":
        import jax

        for device in [d for d in jax.devices() if d.platform == "gpu"]:
            x = jax.device_put(a, device)
            results.append((str(device), np.asarray((x @ x).block_until_ready())))
    elif backend == "torch":
        import torch

        for i in range(torch.cuda.device_count()):
            x = torch.from_numpy(a).to(f"cuda:{i}")
            results.append((f"cuda:{i}", (x @ x).cpu().numpy()))
    done = []
    for name, got in results:
        error = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
        if not error < 1e-2:  # TF32 on Ampere and later rounds to about 1e-3
            raise FaceopsError(f"a {size}x{size} matrix product on {name} is wrong (relative error {error:.2g})")
        done.append(name)
    return done


def check_gpu(required: bool) -> Check:
    devices = gpu_devices()
    if not devices:
        return Check(
            "gpu",
            _must(required),
            "no GPU seen by the Keras backend; training runs on the CPU",
            "in Docker: run with --gpus all on a host with the NVIDIA Container Toolkit, and use an image whose "
            "CUDA/cuDNN match TensorFlow (docker/train.Dockerfile); check with nvidia-smi",
        )
    versions = gpu_versions()
    try:
        ran = gpu_matmul()
    except Exception as exc:  # a kernel that cannot load raises the backend's own error types
        return Check(
            "gpu",
            _must(required),
            f"{len(devices)} seen, but a matrix product failed: {_one_line(exc)}; {versions}",
            'update the host\'s NVIDIA driver to the floor in docs/jenkins.md ("NVIDIA driver floor"), or newer',
        )
    return Check("gpu", OK, f"{len(devices)} seen, a matrix product ran on each ({', '.join(ran)}); {versions}")


def check_backbones(params: Params, reachable: Callable[[str], bool]) -> list[Check]:
    """One row per registered backbone, in name order, each checked as the backbone says (what it needs on this
    machine); the one params.yaml trains with is held to more."""
    try:
        from faceops.model.backbones import backbone_names
    except Exception as exc:  # noqa: BLE001 - a registry that cannot load is a failed check, not the end of the run
        return [Check("backbones", FAIL, _broken(exc), "fix what it names")]
    return [_guarded(f"backbone {name}", check_backbone, name, params, reachable) for name in sorted(backbone_names())]


def check_backbone(name: str, params: Params, reachable: Callable[[str], bool]) -> Check:
    from faceops.model.backbones import get_backbone

    finding = get_backbone(name).doctor_check(params.train.weights, params.train.backbone == name, reachable)
    return Check(f"backbone {name}", finding.status, finding.detail, finding.advice)


def url_reachable(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def check_dvc(lookup: Callable[[], str] = dvc.installed_version) -> Check:
    """The installed DVC is one faceops supports (its Python API changes between majors)."""
    version = lookup()
    problem = dvc.version_problem(version)
    if problem:
        return Check("dvc", FAIL, problem, f"pip install 'dvc[s3]{dvc.SUPPORTED}' (pip install -e . does it)")
    return Check("dvc", OK, f"{version} (supported: {dvc.SUPPORTED})")


def check_remote(root: Path, required: bool) -> Check:
    """The default DVC remote: configured, and answers a listing (nothing is pushed or pulled) within
    FACEOPS_REMOTE_SECONDS: one that hangs is a failed check, never a doctor that never returns."""
    default = dvc.default_remote(root)
    if not default:
        return Check(
            "dvc remote",
            _must(required),
            "no default DVC remote",
            "dvc remote add --default NAME URL (CI: the faceops-dvc-remote credential)",
        )
    try:
        with dvc.Project(root) as project:
            remote = project.remote_fs(default)
            with contextlib.suppress(FileNotFoundError):  # reachable, nothing pushed there yet
                dvc.bounded(f"the DVC remote {default!r}", remote.fs.ls, remote.path, detail=False)
    except Exception as exc:  # every fsspec backend raises its own types
        return Check(
            "dvc remote",
            _must(required),
            f"remote {default!r} is not reachable: {_one_line(exc)}",
            "check the URL, the endpoint (dvc remote modify --local NAME endpointurl URL) and the "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the storage credential",
        )
    return Check("dvc remote", OK, f"{default!r} at {remote.url} answers a listing")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def check_mail(params: Params, recipients: list[str], required: bool, env: Mapping[str, str]) -> list[Check]:
    from faceops.release.report import SmtpSettings, smtp_session

    checks = []
    if recipients:
        checks.append(Check("report recipients", OK, ", ".join(recipients)))
    else:
        checks.append(
            Check(
                "report recipients",
                _must(required),
                "none: --to / REPORT_TO empty and report.recipients empty",
                "set report.recipients in params.yaml or REPORT_TO",
            )
        )
    try:
        settings = SmtpSettings.resolve(params.report, env)
    except FaceopsError as exc:
        checks.append(Check("smtp", _must(required), str(exc), "set report.smtp_host in params.yaml"))
        return checks
    login = (
        f"login as {settings.user} (password {'set' if settings.password else 'NOT set'})"
        if settings.user
        else "no login"
    )
    try:  # the whole session a report needs (TLS and the login too), without sending anything
        with smtp_session(replace(settings, deadline=min(settings.deadline, 15)), timeout=5):
            pass
    except FaceopsError as exc:
        checks.append(
            Check(
                "smtp",
                _must(required),
                f"{exc} ({settings.security}, {login})",
                "check report.smtp_*, FACEOPS_SMTP_USER / FACEOPS_SMTP_PASSWORD and the network to the mail server",
            )
        )
        return checks
    logged_in = "logged in" if settings.user else "no login"
    checks.append(
        Check(
            "smtp",
            OK,
            f"{settings.host}:{settings.port} answers ({settings.security}, {login}: {logged_in}, "
            f"from {settings.sender})",
        )
    )
    return checks


def check_git_identity(root: Path) -> Check:
    name = tools.git("config", "user.name", cwd=root, check=False).stdout.strip()
    email = tools.git("config", "user.email", cwd=root, check=False).stdout.strip()
    if name and email:
        return Check("git identity", OK, f"{name} <{email}>")
    return Check(
        "git identity",
        WARN,
        "user.name or user.email not set (retrain and publish commit)",
        "git config user.name NAME && git config user.email ADDRESS (CI: make ci-setup does it)",
    )


def run_checks(
    root: str | os.PathLike[str] = ".",
    params_path: str = "params.yaml",
    to: list[str] | None = None,
    needs: Requirements = Requirements(),
    env: Mapping[str, str] = os.environ,
    reachable: Callable[[str], bool] = url_reachable,
) -> list[Check]:
    """Every check, each run even when an earlier one failed, so that one run lists everything to fix."""
    root = Path(root)
    checks = [_guarded("python", check_python)]
    try:
        params = load_params(root / params_path)
        checks.append(Check("params.yaml", OK, f"{root / params_path}: every setting valid"))
    except FaceopsError as exc:
        params = Params()  # the remaining checks still run, on the defaults
        checks.append(Check("params.yaml", FAIL, f"{exc} (the checks below use the defaults)", "fix the setting"))
    keras = _guarded("keras", check_keras)
    checks.append(keras)
    if keras.status == OK:
        checks.append(_guarded("gpu", check_gpu, needs.gpu))
    checks.extend(check_backbones(params, reachable))
    checks.append(_guarded("dvc", check_dvc))
    checks.append(_guarded("dvc remote", check_remote, root, needs.remote))
    try:
        recipients = parse_addresses(to, "--to") or list(params.report.recipients)
        checks.extend(check_mail(params, recipients, needs.mail, env))
    except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, not the end of the run
        checks.append(Check("mail", FAIL, _broken(exc), "fix what it names"))
    checks.append(_guarded("git identity", check_git_identity, root))
    return checks


def _broken(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _guarded(name: str, check: Callable[..., Check], *args: object) -> Check:
    """The check's verdict; an error inside it is that check's FAIL, and the other checks still run."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - see above
        return Check(name, FAIL, _broken(exc), "fix what it names")


def format_table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.advice and check.status != OK:
            lines.append(f"{'':<4}  {'':<{width}}  -> {check.advice}")
    failed = sum(check.status == FAIL for check in checks)
    warned = sum(check.status == WARN for check in checks)
    lines.append(f"{failed} failed, {warned} warnings, {len(checks) - failed - warned} ok")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> dict:
    return {"ok": not any(check.status == FAIL for check in checks), "checks": [asdict(check) for check in checks]}
