"""Release gate v2: the candidate and the live model compared on the same faces, and a live model that cannot
be read refusing the candidate (the gate fails closed).

Floors alone let through a candidate far worse than live as long as it clears them. Here both models answer
every current test face and stranger face (the features are cached, so the live model's pass is cheap) and
each face counts as right when the model gives the answer the service would: the person's name, or
"unknown" for a stranger, so a false reject is a wrong answer. The faces only one model answers right decide.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Set
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from faceops.core.errors import FaceopsError
from faceops.core.params import PromoteParams
from faceops.model.card import card_path
from faceops.model.evaluate import Evaluation, evaluate_recogniser
from faceops.model.features import FeatureCache
from faceops.model.recogniser import UNKNOWN, Recogniser
from faceops.release.promote import GateCheck

# `faceops promote --replace-unreadable` sets this for the one evaluate stage it runs: only then does a candidate
# replace a live model that cannot be read. Nothing else sets it, so a broken live model is never replaced by accident.
REPLACE_UNREADABLE_ENV = "FACEOPS_REPLACE_UNREADABLE"


@dataclass(frozen=True)
class PairedTable:
    """Per face, which model gave the service's right answer, and whether the candidate is significantly worse."""

    both_right: int
    only_live: int
    only_candidate: int
    both_wrong: int
    p_value: float  # one-sided exact McNemar: the chance of this many or more live-only faces if neither were better
    significance: float  # promote.significance; 0: not checked

    @property
    def faces(self) -> int:
        return self.both_right + self.only_live + self.only_candidate + self.both_wrong

    @property
    def worse(self) -> bool:
        return self.significance > 0 and self.p_value < self.significance

    def live_right(self) -> float:
        return (self.both_right + self.only_live) / max(self.faces, 1)

    def candidate_right(self) -> float:
        return (self.both_right + self.only_candidate) / max(self.faces, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "faces": self.faces, "candidate_worse": self.worse}

    def summary(self) -> str:
        """One line for the report and the mail."""
        return (
            f"on the same {self.faces} faces: both right {self.both_right}, only live {self.only_live}, "
            f"only candidate {self.only_candidate}, both wrong {self.both_wrong}; "
            f"exact McNemar p = {self.p_value:.3g} (candidate worse below {self.significance:g})"
        )


def served_right(row: Mapping) -> bool:
    """Whether a face got the answer the service should give: its person's name, or unknown for a stranger."""
    return row["answer"] == (row["person"] or UNKNOWN)


def compare(candidate: Evaluation, live: Evaluation, significance: float) -> PairedTable:
    """The paired table on the faces both evaluations answered, and the exact McNemar test on its discordant faces.

    McNemar rather than a bootstrap interval on the accuracy difference: the test set is small (tens of faces
    for a small gallery), where the exact binomial is exact and a bootstrap interval is not; and only the
    faces the models disagree on carry information about which is better, which is what McNemar uses.
    One-sided: the gate refuses a candidate that is worse, never one that is better. A person the live model
    never saw (new, or held out as a stranger when it was trained) counts against live, so such faces can only
    favour the candidate.
    """
    from scipy.stats import binomtest

    live_right = {row["face"]: served_right(row) for row in live.served}
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for row in candidate.served:
        if row["face"] in live_right:
            counts[(live_right[row["face"]], served_right(row))] += 1
    only_live, only_candidate = counts[(True, False)], counts[(False, True)]
    discordant = only_live + only_candidate
    p_value = binomtest(only_live, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    return PairedTable(
        counts[(True, True)], only_live, only_candidate, counts[(False, False)], float(f"{p_value:.4g}"), significance
    )


MAX_EXAMPLES = 20  # example faces an AnswerChanges keeps (the report shows their thumbnails)
RIGHT = "named right"  # the outcome of a face whose new answer is its person's name
STRANGERS = "strangers"  # the group of the faces of no known person


@dataclass(frozen=True)
class AnswerChanges:
    """What changes between the live model and the candidate, face by face: per person, how many of their faces
    get which new answer, and a few example faces. Before promotion, so nobody is surprised by who is now unknown."""

    people: dict[str, dict[str, int]]  # person -> new answer (a name, "unknown", or RIGHT) -> faces
    examples: tuple[dict, ...] = ()  # {"face", "person", "live", "candidate"}, at most MAX_EXAMPLES

    @property
    def faces(self) -> int:
        return sum(sum(outcomes.values()) for outcomes in self.people.values())

    def lines(self) -> list[str]:
        """One line a person: "Ann: 3 faces now unknown, 1 now Bob"."""
        lines = []
        for person, outcomes in self.people.items():
            ordered = sorted(outcomes.items(), key=lambda item: (-item[1], item[0]))
            words = [f"{n} {'face' if n == 1 else 'faces'} now {outcome}" for outcome, n in ordered[:1]]
            words += [f"{n} now {outcome}" for outcome, n in ordered[1:]]
            lines.append(f"{person}: {', '.join(words)}")
        return lines

    def to_dict(self) -> dict:
        return {"faces": self.faces, "people": self.people, "examples": list(self.examples)}


def count_changes(rows: Iterable[Mapping], hidden: Set[str] = frozenset()) -> AnswerChanges:
    """The faces whose answer differs between live and candidate, counted per person.

    Each row: "face", "person" (who the face is; None for a stranger; on recognitions with no known truth, the
    live model's answer), "live" and "candidate" (the answers). A face of, or answered as, someone `hidden`
    (forgotten) is left out: they are never shown."""
    people: dict[str, dict[str, int]] = {}
    examples = []
    for row in sorted(rows, key=lambda row: (row["person"] is None, row["person"] or "", str(row["face"]))):
        live, candidate, person = row["live"], row["candidate"], row["person"]
        if live == candidate or {live, candidate, person} & hidden:
            continue
        outcome = RIGHT if person is not None and candidate == person else candidate
        outcomes = people.setdefault(person or STRANGERS, {})
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if len(examples) < MAX_EXAMPLES:
            examples.append({"face": str(row["face"]), "person": person, "live": live, "candidate": candidate})
    return AnswerChanges(people, tuple(examples))


def answer_changes(candidate: Evaluation, live: Evaluation) -> AnswerChanges:
    """The per-face answer changes on the faces both evaluations answered."""
    live_answers = {row["face"]: row["answer"] for row in live.served}
    return count_changes(
        {**row, "live": live_answers[row["face"]], "candidate": row["answer"]}
        for row in candidate.served
        if row["face"] in live_answers
    )


def paired_check(table: PairedTable) -> GateCheck:
    return GateCheck(
        f"worse than live on the same faces ({table.only_live} only live right, "
        f"{table.only_candidate} only candidate right, exact McNemar p)",
        round(table.live_right(), 4),
        table.p_value,
        f">= {table.significance:g} (promote.significance)",
        not table.worse,
    )


def false_reject_check(candidate: Evaluation, live: Evaluation | None, gate: PromoteParams) -> GateCheck:
    """Known faces answered unknown: a ceiling of its own, since a low threshold can keep accuracy and FAR fine."""
    frr = candidate.metrics.get("false_reject_rate")
    return GateCheck(
        "false_reject_rate",
        live.metrics.get("false_reject_rate") if live else None,
        frr,
        f"<= {gate.max_false_reject_rate:g} (promote.max_false_reject_rate)",
        gate.max_false_reject_rate >= 1 or (frr is not None and float(frr) <= gate.max_false_reject_rate),
    )


def unreadable_check(reason: str, replace: bool) -> GateCheck:
    """The live model exists but cannot be read or evaluated: refuse, unless replacing it was asked for."""
    return GateCheck(
        f"live model readable ({reason})",
        None,
        None,
        "replaced on purpose (faceops promote --replace-unreadable)"
        if replace
        else "a live model that loads, or `faceops promote --replace-unreadable` to replace it",
        replace,
    )


def live_exists(model_path: str | os.PathLike[str]) -> bool:
    return Path(model_path).exists() or card_path(model_path).exists()


def evaluate_live(
    model_path: str | os.PathLike[str], split: pd.DataFrame, cache: FeatureCache
) -> tuple[Evaluation | None, str | None]:
    """The live model on the current faces, or why it cannot be (None, None: there is no live model yet)."""
    if not live_exists(model_path):
        return None, None
    try:
        return evaluate_recogniser(Recogniser.load(model_path), split, cache), None
    except FaceopsError as exc:
        return None, str(exc)


def gate_v2_checks(
    candidate: Evaluation, live: Evaluation | None, unreadable: str | None, gate: PromoteParams, replace: bool
) -> tuple[tuple[GateCheck, ...], PairedTable | None]:
    """The checks gate v2 adds to promote.judge's, and the paired table when there is a live model to pair with."""
    checks = [false_reject_check(candidate, live, gate)]
    if unreadable is not None:
        checks.append(unreadable_check(unreadable, replace))
    table = compare(candidate, live, gate.significance) if live is not None else None
    if table is not None:
        checks.append(paired_check(table))
    return tuple(checks), table
