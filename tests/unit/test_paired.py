"""Release gate v2: the candidate against the live model on the same faces, false rejects, and failing closed."""

import pytest

from faceops.core.params import PromoteParams
from faceops.model.evaluate import Evaluation
from faceops.release.paired import compare, gate_v2_checks
from faceops.release.promote import GateResult, judge


def _evaluation(answers, frr=0.0):
    """answers: (face, person or None for a stranger, what the model said)."""
    served = [{"face": f, "person": p, "answer": a} for f, p, a in answers]
    metrics = {"accuracy": 1.0, "false_accept_rate": 0.0, "false_reject_rate": frr}
    return Evaluation(metrics, [], [], served)


LIVE = _evaluation(
    [(f"ann/{i}.jpg", "Ann", "Ann") for i in range(8)]
    + [("bob/0.jpg", "Bob", "Bob"), ("bob/1.jpg", "Bob", "Ann"), ("eve/0.jpg", None, "unknown")]
)


def test_a_candidate_worse_on_the_same_faces_is_refused_and_the_table_says_why():
    # The candidate answers Ann's faces "unknown" (false rejects count as wrong), names the stranger, gets Bob right.
    worse = _evaluation(
        [(f"ann/{i}.jpg", "Ann", "unknown") for i in range(8)]
        + [("bob/0.jpg", "Bob", "Bob"), ("bob/1.jpg", "Bob", "Bob"), ("eve/0.jpg", None, "Bob")]
    )
    table = compare(worse, LIVE, 0.05)
    assert (table.both_right, table.only_live, table.only_candidate, table.both_wrong) == (1, 9, 1, 0)
    assert table.worse and table.p_value == pytest.approx(11 / 1024, rel=1e-3)  # P(X >= 9), X ~ Binomial(10, 1/2)
    checks, paired = gate_v2_checks(worse, LIVE, None, PromoteParams(max_false_reject_rate=1.0), replace=False)
    result = GateResult(judge(worse, LIVE, PromoteParams(), "accuracy").checks + checks)
    assert not result.passed
    assert result.reason() == (
        "worse than live on the same faces (9 only live right, 1 only candidate right, exact McNemar p) "
        "0.01074 (needs >= 0.05 (promote.significance))"
    )
    summary = paired.summary()
    assert summary == (
        "on the same 11 faces: both right 1, only live 9, only candidate 1, both wrong 0; "
        "exact McNemar p = 0.0107 (candidate worse below 0.05)"
    )


def test_a_face_or_two_lost_by_chance_does_not_refuse():
    candidate = _evaluation(
        [(f, p, "unknown" if f == "ann/0.jpg" else a) for f, p, a in (r.values() for r in LIVE.served)]
    )
    table = compare(candidate, LIVE, 0.05)
    assert (table.only_live, table.only_candidate, table.p_value, table.worse) == (1, 0, 0.5, False)
    assert not compare(_evaluation([]), LIVE, 0.05).worse  # no shared faces: nothing says worse


def test_false_reject_ceiling_and_first_model():
    candidate = _evaluation([("ann/0.jpg", "Ann", "unknown")], frr=0.94)
    checks, paired = gate_v2_checks(candidate, None, None, PromoteParams(max_false_reject_rate=0.2), replace=False)
    assert paired is None and len(checks) == 1  # a first model: floors only
    assert not checks[0].passed
    assert GateResult(checks).reason() == "false_reject_rate 0.94 (needs <= 0.2 (promote.max_false_reject_rate))"


def test_an_unreadable_live_model_refuses_unless_replaced_on_purpose():
    reason = "models/model.json: not valid JSON (Expecting property name)"
    checks, _ = gate_v2_checks(LIVE, None, reason, PromoteParams(), replace=False)
    assert GateResult(checks).reason() == (
        f"live model readable ({reason}) - (needs a live model that loads, "
        "or `faceops promote --replace-unreadable` to replace it)"
    )
    checks, _ = gate_v2_checks(LIVE, None, reason, PromoteParams(), replace=True)
    assert GateResult(checks).passed


def test_promote_params_are_checked():
    from faceops.core.errors import FaceopsError
    from faceops.core.params import load_params

    with pytest.raises(FaceopsError, match=r"promote\.significance is 0\.9; allowed: 0 \(not checked\) to 0\.5"):
        load_params(overrides={"promote": {"significance": 0.9}})


def test_promote_without_its_flag_replaces_nothing(capsys):
    from faceops.cli.main import main

    assert main(["promote"]) == 2
    assert capsys.readouterr().err.startswith("error: faceops promote needs --replace-unreadable; a readable live")
