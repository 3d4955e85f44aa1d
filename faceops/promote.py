"""The release gate: a trained candidate is judged against the live model, and promoted only if it passes.

What predict and serve use (models/model.keras and its card) changes only here, atomically, after the
candidate passed every check; a refused candidate leaves the live model, its metrics and plots untouched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from faceops.atomic import atomic_path
from faceops.card import card_path
from faceops.evaluate import Evaluation
from faceops.params import PromoteParams


@dataclass(frozen=True)
class GateCheck:
    name: str
    live: float | None  # the live model's value, when there is one
    candidate: float | None
    limit: str  # what passes, in words
    passed: bool


@dataclass(frozen=True)
class GateResult:
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def reason(self) -> str:
        """One line: what failed, with the numbers."""
        failed = [check for check in self.checks if not check.passed]
        return "; ".join(f"{check.name} {_fmt(check.candidate)} (needs {check.limit})" for check in failed)

    def to_dict(self) -> dict:
        return {"promoted": self.passed, "checks": [asdict(check) for check in self.checks]}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _recalls(evaluation: Evaluation) -> dict[str, float]:
    return {row["person"]: float(row["recall"]) for row in evaluation.per_person}


def judge(candidate: Evaluation, live: Evaluation | None, gate: PromoteParams, metric: str) -> GateResult:
    """Every check of the gate, live against candidate."""
    score = candidate.metrics.get(metric)
    checks = [
        GateCheck(
            metric,
            live.metrics.get(metric) if live else None,
            score,
            f">= {gate.min_metric:g} (promote.min_metric)",
            score is not None and float(score) >= gate.min_metric,
        ),
    ]
    far = candidate.metrics.get("false_accept_rate")
    checks.append(
        GateCheck(
            "false_accept_rate",
            live.metrics.get("false_accept_rate") if live else None,
            far,
            f"<= {gate.max_false_accept_rate:g} (promote.max_false_accept_rate)",
            far is None or gate.max_false_accept_rate >= 1 or float(far) <= gate.max_false_accept_rate,
        )
    )
    drop, who = 0.0, None
    if live is not None:
        before, after = _recalls(live), _recalls(candidate)
        for person in sorted(set(before) & set(after)):
            if before[person] - after[person] > drop:
                drop, who = before[person] - after[person], person
    checks.append(
        GateCheck(
            f"largest recall drop{f' ({who})' if who else ''}",
            0.0 if live else None,
            round(drop, 4) if live else None,
            f"<= {gate.max_recall_drop:g} (promote.max_recall_drop)",
            live is None or gate.max_recall_drop >= 1 or drop <= gate.max_recall_drop,
        )
    )
    return GateResult(tuple(checks))


def promote(candidate: str | os.PathLike[str], live: str | os.PathLike[str]) -> None:
    """Copy the candidate model and its card over the live ones, each by an atomic rename (model first)."""
    for source, target in ((Path(candidate), Path(live)), (card_path(candidate), card_path(live))):
        with atomic_path(target, suffix=target.suffix) as tmp:
            shutil.copyfile(source, tmp)
