"""Every project path, defined once: where faceops keeps data, models, metrics, reports and its own state.

Paths are relative to the project root (the folder holding dvc.yaml), as the user reads them in dvc.yaml and the
README; `Layout.at(root)` gives them under another root. dvc.yaml stays the user's readable file:
tests/unit/test_layout.py checks that every path it names is one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """A project's places, relative to its root; one instance, `LAYOUT`, for the default project."""

    # the data set (DVC-tracked): one folder a person, and strangers' faces said not to be a person
    raw: str = "dataset/raw"
    raw_dvc: str = "dataset/raw.dvc"
    negatives: str = "dataset/raw/.negatives"
    # stage outputs
    faces: str = "data/faces"
    manifest: str = "data/faces.csv"
    split: str = "data/split.csv"
    model: str = "models/model.keras"
    card: str = "models/model.json"
    candidate: str = "models/candidate.keras"
    candidate_card: str = "models/candidate.json"
    faces_metrics: str = "metrics/faces.json"
    train_metrics: str = "metrics/train.json"
    candidate_metrics: str = "metrics/candidate.json"
    eval_metrics: str = "metrics/eval.json"
    params_check: str = "reports/params_check.json"
    faces_report: str = "reports/faces.csv"
    data_validation: str = "reports/data_validation.json"
    lookalikes: str = "reports/lookalikes.json"
    gate: str = "reports/gate.json"
    per_person: str = "reports/per_person.csv"
    history_plot: str = "plots/train_history.png"
    history_table: str = "plots/train_history.csv"
    confusion_plot: str = "plots/confusion.png"
    confusion_table: str = "plots/confusion.csv"
    # written by commands, not stages
    report: str = "reports/report.html"
    retrain_report: str = "reports/retrain.json"
    receipts: str = "receipts"  # faceops forget's receipts (committed: the proof)
    unknowns: str = "reports/unknowns.html"  # `faceops unknowns`: the contact sheet of the groups of unknown faces
    unknowns_groups: str = "reports/unknowns.json"  # and the groups, for `faceops unknowns enrol` and /admin
    # faceops' own state in the project (git-ignored)
    state: str = ".faceops"
    lock: str = ".faceops/lock"
    forget_journals: str = ".faceops/forget"
    crop_cache: str = ".faceops/crops"
    feature_cache: str = ".faceops/features"
    # the record store's folders when it is a local folder (by default the project itself)
    pending: str = ".faceops/pending"
    feedback: str = ".faceops/feedback"
    recognition_log: str = "logs/recognitions.jsonl"

    def at(self, root: str | Path, name: str) -> Path:
        """The place `name` (a field of this layout) under the project root `root`."""
        return Path(root) / getattr(self, name)

    def paths(self) -> dict[str, str]:
        """Every place by name, for checks that compare the layout with dvc.yaml."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


LAYOUT = Layout()
