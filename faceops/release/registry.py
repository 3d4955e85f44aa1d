"""Model versions on DVC's registry (GTO): each promoted model a version, the one the service uses in stage `live`.

GTO keeps both as git tags (`model@v0.2.0`, `model#live#3`) on the commit whose dvc.lock records the model, so a
version is a commit: its model and card come back from the DVC cache by the hashes in that dvc.lock, and its
test scores from the metrics/eval.json committed with it. `dvc.yaml` declares the artifact (`artifacts: model`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from faceops.core import dvc, tools
from faceops.core.atomic import write_text
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.model.card import card_path
from faceops.model.metrics import EvaluationMetrics
from faceops.release.promote import promote
from faceops.release.receipts import Receipt, receipt_files

log = logging.getLogger(__name__)

ARTIFACT = "model"
LIVE = "live"
MODEL = LAYOUT.model
METRICS = LAYOUT.eval_metrics
DATA = LAYOUT.raw_dvc


@dataclass(frozen=True)
class ModelVersion:
    version: str
    commit: str
    date: str
    live: bool
    accuracy: float | None
    false_accept_rate: float | None
    false_reject_rate: float | None
    people: int | None
    data_version: str | None  # the first 8 hex digits of dataset/raw's DVC hash at that commit


def _gto(*args: str, root: str | os.PathLike[str]) -> str:
    return tools.run(["gto", *args], root).stdout  # tools.run puts this interpreter's scripts first on PATH


def _git_show(root: str | os.PathLike[str], commit: str, path: str) -> str | None:
    shown = tools.git("show", f"{commit}:{path}", cwd=root, check=False)
    return shown.stdout if shown.returncode == 0 else None


def _lock_hashes(root: str | os.PathLike[str], commit: str) -> dict[str, str]:
    """path -> md5 of the evaluate stage's outputs, as the dvc.lock of `commit` records them."""
    lock = yaml.safe_load(_git_show(root, commit, dvc.LOCK) or "{}") or {}
    outs = lock.get("stages", {}).get("evaluate", {}).get("outs", [])
    return {out["path"]: out["md5"] for out in outs if "md5" in out}


def versions(root: str | os.PathLike[str] = ".") -> list[ModelVersion]:
    """Every registered version, newest first, with its test scores and data version."""
    shown = tools.run(["gto", "show", ARTIFACT, "--json"], root, check=False)
    if shown.returncode != 0 and "Cannot find artifact" in shown.stdout + shown.stderr:
        return []  # nothing registered yet
    if shown.returncode != 0:
        raise FaceopsError(f"`gto show {ARTIFACT}` failed: {tools.last_error(shown)}")
    found = []
    for entry in json.loads(shown.stdout or "[]"):
        commit = entry["commit_hexsha"]
        shown_metrics = _git_show(root, commit, METRICS)
        metrics = EvaluationMetrics.parse(shown_metrics, f"{METRICS} at {commit[:8]}") if shown_metrics else None
        data = yaml.safe_load(_git_show(root, commit, DATA) or "{}") or {}
        data_md5 = next((out.get("md5") for out in data.get("outs", [])), None)
        registered = entry.get("registrations") or [{}]
        found.append(
            ModelVersion(
                entry["version"],
                commit,
                str(registered[0].get("created_at", ""))[:19].replace("T", " "),
                any(stage.get("stage") == LIVE for stage in entry.get("stages", [])),
                metrics.accuracy if metrics else None,
                metrics.false_accept_rate if metrics else None,
                metrics.false_reject_rate if metrics else None,
                metrics.people if metrics else None,
                data_md5[:8] if data_md5 else None,
            )
        )
    return found


def register(root: str | os.PathLike[str] = ".") -> str | None:
    """Register HEAD's live model as a new version in stage `live`, unless it is the live version already.

    Run after the commit that records a promotion (Jenkins: after retrain commits, then push the tags)."""
    head = tools.git("rev-parse", "HEAD", cwd=root).stdout.strip()
    model = _lock_hashes(root, head).get(MODEL)
    if model is None:
        raise FaceopsError(f"{dvc.LOCK} at HEAD records no {MODEL}: run `dvc repro` and commit a promoted model first")
    for known in versions(root):
        if _lock_hashes(root, known.commit).get(MODEL) == model:
            if not known.live:
                _gto("assign", ARTIFACT, "--version", known.version, "--stage", LIVE, "--force", root=root)
            return None
    bump = ["--bump-major"] if versions(root) else ["--version", "v1.0.0"]  # v1.0.0, v2.0.0, ...: one per model
    _gto("register", ARTIFACT, head, *bump, root=root)
    version = next(v.version for v in versions(root) if v.commit == head)
    _gto("assign", ARTIFACT, "--version", version, "--stage", LIVE, "--force", root=root)
    return version


def rollback(root: str | os.PathLike[str] = ".", version: str | None = None) -> ModelVersion:
    """Make an earlier version live again: its model and card from the DVC cache (or remote), its metrics from git; GTO
    records it in stage `live`. No version given: the one registered before the live one."""
    known = versions(root)
    if not known:
        raise FaceopsError("no model versions are registered yet (`faceops models --register` after a promotion)")
    if version is None:
        live = next((i for i, v in enumerate(known) if v.live), 0)
        if live + 1 >= len(known):
            raise FaceopsError(f"{known[live].version} is the oldest version: nothing earlier to roll back to")
        version = known[live + 1].version
    target = next((v for v in known if v.version == version), None)
    if target is None:
        raise FaceopsError(f"model version {version!r} is not registered; known: {', '.join(v.version for v in known)}")
    _restore(root, target)
    _gto("assign", ARTIFACT, "--version", target.version, "--stage", LIVE, "--force", root=root)
    return target


def _restore(root: str | os.PathLike[str], target: ModelVersion) -> None:
    hashes = _lock_hashes(root, target.commit)
    card = str(card_path(MODEL))
    if MODEL not in hashes or card not in hashes:
        raise FaceopsError(f"{target.version}: its commit's {dvc.LOCK} records no {MODEL} and {card}")
    with dvc.Project(root) as project:
        cache = project.cache
        missing = [path for path in (MODEL, card) if not cache.exists(hashes[path])]
        if missing:
            try:
                _pull(project, [hashes[path] for path in missing])
            except dvc.RemoteError as exc:  # a remote that hangs or is down: said in one line, nothing changed
                raise FaceopsError(
                    f"{target.version}: {', '.join(missing)} missing from the DVC cache, and {exc}; nothing was changed"
                ) from None
            missing = [path for path in (MODEL, card) if not cache.exists(hashes[path])]
        if missing:
            raise FaceopsError(
                f"{target.version}: {', '.join(missing)} neither in the DVC cache nor on the default DVC remote"
            )
        _refuse_forgotten(root, target, json.loads(Path(cache.path(hashes[card])).read_text()))
        with tempfile.TemporaryDirectory(dir=Path(root) / Path(MODEL).parent) as folder:
            staged = Path(folder) / Path(MODEL).name
            shutil.copyfile(cache.path(hashes[MODEL]), staged)
            shutil.copyfile(cache.path(hashes[card]), card_path(staged))
            promote(staged, Path(root) / MODEL)
    metrics = _git_show(root, target.commit, METRICS)
    if metrics is not None:
        write_text(Path(root) / METRICS, metrics)
    # dvc.lock records the restored model, so `dvc repro` does not rerun evaluate and promote the newer one again.
    dvc.run("commit", "--force", "--quiet", "evaluate", cwd=root)


def _pull(project: dvc.Project, md5s: list[str]) -> None:
    """Objects from the default DVC remote into the cache, by hash (a version's files, whatever the workspace)."""
    try:
        project.pull(md5s)  # within FACEOPS_TRANSFER_SECONDS, else a RemoteError for the caller
    except dvc.RemoteError:
        raise
    except Exception as exc:  # noqa: BLE001 - no remote, or every fsspec backend's own errors: said by the caller
        log.warning("could not fetch from the DVC remote: %s", " ".join(str(exc).split())[:300])


def forgotten_people(root: str | os.PathLike[str]) -> set[str]:
    """Everyone `faceops forget` removed: the people its receipts name."""
    return {Receipt.read(path).person for path in receipt_files(root)}


def _refuse_forgotten(root: str | os.PathLike[str], target: ModelVersion, card: dict) -> None:
    """A version that still names a person forgotten since must never answer with their name again."""
    named = set(card.get("labels", [])) - set(card.get("forgotten", []))
    gone = sorted(named & forgotten_people(root))
    if gone:
        raise FaceopsError(
            f"{target.version} was trained on {', '.join(gone)}, forgotten since ({LAYOUT.receipts}/forget-*.json): "
            "it cannot be made live again; train a new model with `dvc repro`"
        )


def format_versions(found: list[ModelVersion]) -> str:
    """The table `faceops models` prints."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = [("version", "date", "accuracy", "FAR", "FRR", "people", "data", "live")]
    rows += [
        (
            v.version,
            v.date,
            pct(v.accuracy),
            pct(v.false_accept_rate),
            pct(v.false_reject_rate),
            "-" if v.people is None else str(v.people),
            v.data_version or "-",
            "live" if v.live else "",
        )
        for v in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
