"""The release gate: a bad candidate never replaces the live model."""

import pytest

from faceops.core.params import PromoteParams
from faceops.model.evaluate import Evaluation
from faceops.release.promote import judge


def _evaluation(accuracy, far, recalls):
    per_person = [{"person": p, "precision": 1.0, "recall": r, "f1": r, "support": 5} for p, r in recalls.items()]
    return Evaluation({"accuracy": accuracy, "false_accept_rate": far}, per_person, [])


def test_gate_names_the_check_and_the_person():
    live = _evaluation(0.9, 0.01, {"Ann": 1.0, "Bob": 0.8})
    worse = _evaluation(0.85, 0.2, {"Ann": 0.5, "Bob": 0.8})
    result = judge(
        worse, live, PromoteParams(min_metric=0.5, max_false_accept_rate=0.05, max_recall_drop=0.2), "accuracy"
    )
    assert not result.passed
    assert [c.passed for c in result.checks] == [True, False, False]
    assert result.reason() == (
        "false_accept_rate 0.2 (needs <= 0.05 (promote.max_false_accept_rate)); "
        "largest recall drop (Ann) 0.5 (needs <= 0.2 (promote.max_recall_drop))"
    )
    assert judge(live, None, PromoteParams(), "accuracy").passed  # a first model: nothing to drop from


@pytest.mark.parametrize("full_at", [1, 2])
def test_a_full_disk_during_promotion_leaves_the_live_pair(tmp_path, monkeypatch, full_at):
    """ENOSPC is injected at the model's copy (1) or the card's (2): a real full disk cannot be mounted here."""
    import errno
    import shutil

    from faceops.release.promote import promote

    for name, text in (("candidate.keras", "new model"), ("candidate.json", "new card")):
        (tmp_path / name).write_text(text)
    for name, text in (("model.keras", "live model"), ("model.json", "live card")):
        (tmp_path / name).write_text(text)
    copies, real_copy = [], shutil.copyfile

    def copy_until_full(source, target):
        copies.append(target)
        if len(copies) == full_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError, match="No space left"):
        promote(tmp_path / "candidate.keras", tmp_path / "model.keras")
    assert (tmp_path / "model.keras").read_text() == "live model"
    assert (tmp_path / "model.json").read_text() == "live card"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "candidate.json",
        "candidate.keras",
        "model.json",
        "model.keras",
    ]  # no half-written copy left beside them
