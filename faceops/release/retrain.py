"""Automated retraining: when the model is below the accuracy threshold, try the tweaks in
`retrain.schedule` as DVC experiments, and keep the best one only if it beats the current model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from faceops.core import dvc, tools
from faceops.core.atomic import write_json
from faceops.core.contracts import MISSING_FILE, Fields, read_fields
from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.core.params import PARAMS_FILE, Params, RetrainParams, Tweak, check_tweak, read_sections
from faceops.model.metrics import EvaluationMetrics
from faceops.release.gate import GateVerdict

log = logging.getLogger(__name__)

PASSED, IMPROVED, NO_IMPROVEMENT = "passed", "improved_below_threshold", "no_improvement"
INTERRUPTED = "interrupted"
PARAMS_CHECK_STAGE = "params"  # dvc.yaml's first stage: it checks params.yaml and changes nothing downstream
EXIT_CODES = {PASSED: 0, IMPROVED: 2, NO_IMPROVEMENT: 3, INTERRUPTED: 4}


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)


class SignalGuard:
    """Turns SIGINT and SIGTERM into `Interrupted`, except inside `hold()`, where they wait.

    Snapshot and restore run under `hold()`: an impatient second Ctrl-C must not leave a half-copied
    workspace. Outside the main thread (signals cannot be handled there) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending = self.pending or signum
        else:
            raise Interrupted(signum)

    def __enter__(self) -> SignalGuard:
        with contextlib.suppress(ValueError):  # not the main thread
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @contextlib.contextmanager
    def hold(self, deliver: bool = True) -> Iterator[None]:
        """Signals wait until the block ends; then, with `deliver`, the first of them is raised."""
        outer, self.holding = self.holding, True
        try:
            yield
        finally:
            self.holding = outer
        if not deliver:
            self.pending = None
        elif not outer and self.pending is not None:
            signum, self.pending = self.pending, None
            raise Interrupted(signum)


@dataclass
class Attempt:
    name: str
    experiment: str
    overrides: dict
    seconds: float = 0.0
    metrics: dict | None = None  # the candidate's scores (EvaluationMetrics.to_dict); None: it crashed
    verdict: str = "pending"  # passed, below_threshold, refused (by the release gate), crashed, skipped
    error: str | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> Attempt:
        return cls(
            fields.text("name"),
            fields.text("experiment"),
            fields.mapping("overrides"),
            fields.number("seconds"),
            fields.mapping("metrics", nullable=True),
            fields.text("verdict"),
            fields.text("error", nullable=True),
        )


@dataclass
class RetrainOutcome:
    status: str
    baseline: dict
    attempts: list[Attempt] = field(default_factory=list)
    chosen: str | None = None
    interrupted_by: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


class Workspace:
    """The DVC project on disk: runs experiments and puts the workspace back exactly as it was."""

    def __init__(self, root: str | os.PathLike[str] = ".") -> None:
        self.root = Path(root).resolve()

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return tools.git(*args, cwd=self.root, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return dvc.run(*args, cwd=self.root, check=check)

    def ensure_git_identity(self) -> None:
        """CI checkouts often have no git identity, which `dvc exp run` needs to record experiments."""
        for key, value in (("user.name", "faceops retrain"), ("user.email", "faceops-retrain@localhost")):
            if not self.git("config", key, check=False).stdout.strip():
                self.git("config", key, value)

    def tracked_outputs(self) -> list[Path]:
        """Files an experiment rewrites that git (not the DVC cache) keeps: params, lock, metrics, plots."""
        paths = [self.root / PARAMS_FILE, self.root / dvc.LOCK]
        pipeline = yaml.safe_load((self.root / dvc.PIPELINE).read_text())
        for stage in pipeline.get("stages", {}).values():
            for kind in ("outs", "metrics", "plots"):
                for entry in stage.get(kind, []):
                    if isinstance(entry, Mapping):
                        [(name, options)] = entry.items()
                        if (options or {}).get("cache") is False:
                            paths.append(self.root / name)
        return paths

    def git_index(self) -> Path:
        return self.root / self.git("rev-parse", "--git-path", "index").stdout.strip()

    def snapshot(self) -> Path:
        """Copy what an experiment may change (tracked outputs, the git index, HEAD) to a temporary folder."""
        keep = Path(tempfile.mkdtemp(prefix="faceops-retrain-"))
        for path in self.tracked_outputs():
            if path.exists():
                target = keep / "workspace" / path.relative_to(self.root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        if self.git_index().exists():
            shutil.copy2(self.git_index(), keep / "index")
        head = self.git("symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
        (keep / "HEAD").write_text(head or self.git("rev-parse", "HEAD").stdout.strip())
        return keep

    def restore(self, keep: Path) -> None:
        """Put back the snapshot: HEAD, tracked outputs, DVC-tracked files as dvc.lock names them, the index."""
        head = (keep / "HEAD").read_text()
        if head.startswith("refs/"):
            self.git("symbolic-ref", "HEAD", head)
        else:
            self.git("update-ref", "--no-deref", "HEAD", head)
        for path in self.tracked_outputs():
            saved = keep / "workspace" / path.relative_to(self.root)
            if saved.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(saved, path)
            elif path.exists():
                path.unlink()
        self.dvc("checkout", "--force", "--quiet", check=False)
        if (keep / "index").exists():
            shutil.copy2(keep / "index", self.git_index())


def plan(params: RetrainParams, tried: TriedModels | None = None) -> list[str]:
    """The attempts `faceops retrain` would run; with `tried`, those it would skip say why."""
    lines = [f"retrain while {params.metric} < {params.threshold} (at most {params.max_attempts} attempts):"]
    for i, tweak in enumerate(params.tweaks(), 1):
        skipped = tried.same_model(tweak) if tried else None
        lines.append(
            f"  {i}. {tweak.name}: "
            + ", ".join(f"{k}={v}" for k, v in tweak.overrides.items())
            + (f"; skipped, it {skipped}" if skipped else "")
        )
    if len(lines) == 1:
        lines.append("  (retrain.schedule is empty: nothing to try)")
    return lines


def retrain(params: RetrainParams, metrics_path: str | os.PathLike[str], workspace: Workspace) -> RetrainOutcome:
    """Try tweaks until one passes; apply the best attempt only if it beats the current model."""
    live = EvaluationMetrics.read(workspace.root / metrics_path, missing=None)
    if live is None:  # no model went live yet: the release gate refused the first candidate
        baseline = EvaluationMetrics.read(LAYOUT.at(workspace.root, "candidate_metrics")).to_dict()
        current = float("-inf")  # any attempt that goes live is an improvement
        log.info("no live model yet; the refused candidate had %s %s", params.metric, baseline.get(params.metric))
    else:
        baseline = live.to_dict()
        current = _score(baseline, params.metric, metrics_path)
        if current >= params.threshold:
            log.info("%s %.4f meets the threshold %.4f: nothing to do", params.metric, current, params.threshold)
            return RetrainOutcome(PASSED, baseline)
    workspace.ensure_git_identity()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    outcome = RetrainOutcome(NO_IMPROVEMENT, baseline)
    with SignalGuard() as guard:
        try:
            with guard.hold():
                keep = workspace.snapshot()
            try:
                _attempts(params, workspace, stamp, outcome, guard, keep)
            finally:
                with guard.hold():
                    workspace.restore(keep)
                    shutil.rmtree(keep, ignore_errors=True)
        except Interrupted as interruption:
            outcome.status, outcome.interrupted_by = INTERRUPTED, interruption.signal_name
            for attempt in outcome.attempts:
                if attempt.verdict == "pending":
                    attempt.verdict = INTERRUPTED
            log.warning("%s: stopped; the workspace is as it was before retraining", interruption.signal_name)
            return outcome
        with guard.hold(deliver=False):  # a short, all-or-nothing step: let it finish
            return _apply_best(params, metrics_path, workspace, outcome, current)


def _attempts(
    params: RetrainParams, workspace: Workspace, stamp: str, outcome: RetrainOutcome, guard: SignalGuard, keep: Path
) -> None:
    """Run the schedule's tweaks as experiments, restoring the workspace after each, until one passes; a tweak that
    would train the model the live settings or an earlier tweak train is skipped, saying why."""
    tried = TriedModels(workspace.root / PARAMS_FILE, pipeline_up_to_date(workspace.root))
    for i, tweak in enumerate(params.tweaks(), 1):
        attempt = Attempt(tweak.name, f"retrain-{stamp}-{i}-{tweak.name}", dict(tweak.overrides))
        outcome.attempts.append(attempt)
        if same := tried.same_model(tweak):
            attempt.verdict, attempt.error = "skipped", same
            log.info("attempt %s skipped: %s", tweak.name, same)
            continue
        log.info("attempt %d/%d %s: %s", i, len(params.tweaks()), tweak.name, tweak.overrides)
        started = time.perf_counter()
        try:
            result = workspace.dvc("exp", "run", "--name", attempt.experiment, *tweak.set_args(), check=False)
        finally:
            attempt.seconds = round(time.perf_counter() - started, 1)
        if result.returncode != 0:
            attempt.verdict, attempt.error = "crashed", tools.last_error(result)
            log.warning("attempt %s crashed: %s", tweak.name, attempt.error)
        else:
            attempt.metrics = EvaluationMetrics.read(LAYOUT.at(workspace.root, "candidate_metrics")).to_dict()
            score = _score(attempt.metrics, params.metric, LAYOUT.candidate_metrics)
            gate = GateVerdict.read(LAYOUT.at(workspace.root, "gate"))
            if not gate.promoted:
                attempt.verdict, attempt.error = "refused", "release gate: " + ", ".join(gate.failed_checks())
            else:
                attempt.verdict = "passed" if score >= params.threshold else "below_threshold"
            log.info("attempt %s: %s %.4f (%s)", tweak.name, params.metric, score, attempt.verdict)
        with guard.hold():
            workspace.restore(keep)
        if attempt.verdict == "passed":
            break


def pipeline_up_to_date(root: str | os.PathLike[str]) -> bool:
    """Whether `dvc status` finds nothing changed since the last run that could change the model: only then did the
    current settings train the current model (new photos not yet run through make the same settings train a new one).
    The params check stage depends on all of params.yaml, so an edit of retrain.* shows there: it changes no model."""
    answer = dvc.run("status", "--json", cwd=root, check=False)
    try:
        changed = json.loads(answer.stdout or "{}") if answer.returncode == 0 else None
    except ValueError:
        changed = None
    return isinstance(changed, dict) and not set(changed) - {PARAMS_CHECK_STAGE}


class TriedModels:
    """The settings that trained a model so far, as the model sees them (Params' sections but retrain's and report's,
    the head resolved, the settings it never reads left out): a tweak that matches one trains the same model again."""

    def __init__(self, params_path: Path, current_trained: bool) -> None:
        """`current_trained`: the current settings trained the current model (see `pipeline_up_to_date`)."""
        self.where = params_path
        self.data = read_sections(params_path)
        self.seen: list[tuple[tuple, str]] = []
        if current_trained:
            self.seen.append((self._model(Tweak("current", {})), f"{params_path.name} as it is"))

    def _model(self, tweak: Tweak) -> tuple:
        from faceops.model.backbones import get_backbone

        params: Params = check_tweak(self.data, tweak, f"{self.where}: retrain.schedule ({tweak.name})")
        train = params.train.as_trained(get_backbone(params.train.backbone).default_head)
        return (params.base, params.faces, params.validate, params.split, train, params.promote)

    def same_model(self, tweak: Tweak) -> str | None:
        """Why this tweak would train a model already trained, or None: it is new."""
        model = self._model(tweak)
        for seen, name in self.seen:
            if seen == model:
                head = model[4]
                unread = [key for key in tweak.overrides if key.removeprefix("train.") in head.unread(head.head)]
                why = f": the {head.head} head reads no {', '.join(unread)}" if unread else ""
                return f"trains the same model as {name}{why}"
        self.seen.append((model, f"attempt {tweak.name}"))
        return None


def _apply_best(
    params: RetrainParams, metrics_path: Any, workspace: Workspace, outcome: RetrainOutcome, current: float
) -> RetrainOutcome:
    """`dvc exp apply` the best promoted attempt, if it beats the model that was live before."""
    scored = [a for a in outcome.attempts if a.verdict in ("passed", "below_threshold")]  # promoted in its run
    best = max(scored, key=lambda a: _score(a.metrics, params.metric, metrics_path), default=None)
    if best is not None and _score(best.metrics, params.metric, metrics_path) > current:
        workspace.dvc("exp", "apply", best.experiment)
        outcome.chosen = best.experiment
        outcome.status = PASSED if best.verdict == "passed" else IMPROVED
    return outcome


def _score(metrics: Mapping, key: str, path: Any) -> float:
    if metrics.get(key) is None:  # the file does not have it (EvaluationMetrics reads an absent score as None)
        present = ", ".join(name for name, value in metrics.items() if value is not None)
        raise FaceopsError(f"{path}: no metric {key!r} (retrain.metric); it has {present}")
    value = metrics[key]
    # bool is an int: True would read as 1.0; a metric outside [0, 1] (or NaN) is a broken file, never a pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise FaceopsError(f"{path}: {key} is {value!r}; allowed: a number from 0 to 1 (retrain.metric)")
    return float(value)


@dataclass(frozen=True)
class RetrainReport:
    """reports/retrain.json: what `faceops retrain` tried and kept; `faceops report` shows it."""

    status: str  # PASSED, IMPROVED, NO_IMPROVEMENT or INTERRUPTED
    exit_code: int
    metric: str  # retrain.metric
    threshold: float
    baseline: dict  # the scores of the model live before (EvaluationMetrics.to_dict)
    chosen: str | None  # the experiment applied to the workspace
    interrupted_by: str | None  # SIGINT or SIGTERM
    attempts: tuple[Attempt, ...]
    finished: str  # ISO time, UTC

    @classmethod
    def of(cls, params: RetrainParams, outcome: RetrainOutcome) -> RetrainReport:
        return cls(
            outcome.status,
            outcome.exit_code,
            params.metric,
            params.threshold,
            outcome.baseline,
            outcome.chosen,
            outcome.interrupted_by,
            tuple(outcome.attempts),
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "metric": self.metric,
            "threshold": self.threshold,
            "baseline": self.baseline,
            "chosen": self.chosen,
            "interrupted_by": self.interrupted_by,
            "attempts": [vars(attempt) for attempt in self.attempts],
            "finished": self.finished,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike[str], missing: str | None = MISSING_FILE) -> RetrainReport | None:
        """The report in `path`; None only when it does not exist and `missing` is None."""
        fields = read_fields(path, missing)
        if fields is None:
            return None
        return cls(
            fields.text("status"),
            fields.integer("exit_code"),
            fields.text("metric"),
            fields.number("threshold"),
            fields.mapping("baseline"),
            fields.text("chosen", nullable=True),
            fields.text("interrupted_by", nullable=True),
            tuple(Attempt.from_fields(attempt) for attempt in fields.objects("attempts")),
            fields.text("finished"),
        )


def write_report(path: str | os.PathLike[str], params: RetrainParams, outcome: RetrainOutcome) -> None:
    RetrainReport.of(params, outcome).write(path)
