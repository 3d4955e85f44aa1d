"""The release gate: a trained candidate is judged against the live model, and promoted only if it passes.

What predict and serve use (models/model.keras and its card) changes only here, atomically, after the
candidate passed every check; a refused candidate leaves the live model, its metrics and plots untouched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from faceops.core.atomic import atomic_path
from faceops.core.layout import LAYOUT
from faceops.core.params import PromoteParams
from faceops.model.card import card_path
from faceops.model.evaluate import Evaluation
from faceops.model.rates import Rate


@dataclass(frozen=True)
class GateCheck:
    name: str
    live: float | None  # the live model's value, when there is one
    candidate: float | None
    limit: str  # what passes, in words
    passed: bool
    note: str = ""  # why a check could not judge, e.g. "FAR not measurable on 10 stranger faces"


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

    def notes(self) -> list[str]:
        return [check.note for check in self.checks if check.note]


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
    checks.append(far_check(candidate, live, gate))
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


def far_check(candidate: Evaluation, live: Evaluation | None, gate: PromoteParams) -> GateCheck:
    """FAR against its cap, judged only when the stranger faces can tell: refused when even the 95 % interval's
    lower bound is above the cap; "not measurable" (passing, with a note) when the interval is wider than the cap."""
    cap = gate.max_false_accept_rate
    far = candidate.metrics.get("false_accept_rate")
    live_far = live.metrics.get("false_accept_rate") if live else None
    if "stranger_faces" not in candidate.metrics:  # metrics without a sample size: the rate alone, as it was
        passed = far is None or cap >= 1 or float(far) <= cap
        return GateCheck("false_accept_rate", live_far, far, f"<= {cap:g} (promote.max_false_accept_rate)", passed)
    rate = stranger_count(candidate)
    verdict = "within" if cap >= 1 else rate.versus(cap)
    low, high = rate.interval
    note = ""
    if verdict == "unmeasurable":
        note = (
            f"FAR not measurable on {rate.n} stranger faces"
            + (f" ({rate.errors} accepted, 95% interval {low:.1%} to {high:.1%})" if rate.n else "")
            + f": more strangers' faces ({LAYOUT.negatives}/) would let the gate judge it against {cap:g}"
        )
    return GateCheck(
        "false_accept_rate",
        live_far,
        far,
        f"<= {cap:g} (promote.max_false_accept_rate; 95% interval {low:.3g} to {high:.3g} on {rate.n} faces)",
        verdict in ("within", "unmeasurable"),
        note,
    )


FIXES = {  # what to change, by the start of a failed check's name
    "false_accept_rate": f"add strangers' faces to {LAYOUT.negatives}/others/, or raise promote.max_false_accept_rate",
    "largest recall drop": "add photos of that person, or raise promote.max_recall_drop",
}


def first_model_refused(result: GateResult) -> str:
    """The one line a refused first model ends the pipeline with: the gate's reason, and what to change."""
    fixes = [
        FIXES.get(check.name.split(" (")[0], f"add photos (see {LAYOUT.per_person}), or lower promote.min_metric")
        for check in result.checks
        if not check.passed
    ]
    return (
        f"the first model was REFUSED by the release gate: {result.reason()}; nothing is live yet "
        f"(details in {LAYOUT.gate}); to change: {'; '.join(dict.fromkeys(fixes))}"
    )


def stranger_count(evaluation: Evaluation) -> Rate:
    """The false accepts and stranger faces an evaluation counted (metrics without the count: from the rate)."""
    n = int(evaluation.metrics.get("stranger_faces") or 0)
    errors = evaluation.metrics.get("false_accepts")
    if errors is None:
        errors = round(float(evaluation.metrics.get("false_accept_rate") or 0) * n)
    return Rate(int(errors), n)


def promote(candidate: str | os.PathLike[str], live: str | os.PathLike[str]) -> None:
    """Copy the candidate model and its card over the live ones. Both copies are written in full beside the live
    pair before either is renamed into place (model first), so a disk that fills up half-way leaves the live pair
    as it was, and an OSError says so."""
    model, card = Path(live), card_path(live)
    with atomic_path(card, suffix=card.suffix) as card_tmp, atomic_path(model, suffix=model.suffix) as model_tmp:
        shutil.copyfile(candidate, model_tmp)
        shutil.copyfile(card_path(candidate), card_tmp)
