"""The calibration sweep of `evaluate answers --sweep`: every pair of a check threshold and
a grounding threshold applied to answers that were all given, and the pair with the most
answered right less invented."""

from evaluation.answers import Answered, sweep_best, threshold_sweep


def answered(expected, right, p_none, grounding=None):
    check = {"p_none": p_none} if grounding is None else {"p_none": p_none, "grounding": grounding}
    return Answered(
        query="q", language="en", expected=expected, facts=[], route="grounded", text="a",
        cited=[], ttft_ms=None, right=right, check=check,
    )  # fmt: skip


def test_the_pair_that_keeps_right_answers_and_drops_invented_ones_is_chosen():
    rows = [
        answered("faq-1", True, 0.1, 0.9),
        answered("faq-2", True, 0.45, 0.8),
        answered(None, False, 0.2, 0.1),  # invented: passes the check, not the grounding
        answered(None, False, 0.48, 0.7),  # invented: under 0.5 and grounded 0.7
    ]
    table = threshold_sweep(rows)
    assert {(r["threshold"], r["grounding"]) for r in table} >= {(0.5, 0.0), (0.5, 0.2)}
    best = sweep_best(table)
    assert best is not None
    assert (best["answered_right"], best["invented_out_of_scope"]) == (1.0, 0.0)
    assert best["threshold"] == 0.5 and 0.7 < best["grounding"] <= 0.8  # the first such pair


def test_a_check_only_run_sweeps_the_check_alone():
    rows = [answered("faq-1", True, 0.1), answered(None, False, 0.6)]
    table = threshold_sweep(rows)
    assert {r["grounding"] for r in table} == {0.0}
    best = sweep_best(table)
    assert best is not None and best["threshold"] == 0.2
