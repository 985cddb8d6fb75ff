"""The chaos harness's check of the memory budget (the ``budget-churn`` class): the members'
``chaos-budget`` lines read back, the bound per member, and a run that never reached the budget
failing as one that did not test it."""

from __future__ import annotations

from chaos.runner import PARTITIONS, budget_peaks, budget_problems

AVAILABLE = 8_388_608
MESSAGE = 20_350


def test_peaks_are_read_from_a_members_output_among_other_lines() -> None:
    text = (
        "2026-12-05 22:16:09,337 INFO MainThread app.running group_id=g\n"
        "chaos-budget peak=0 available=8388608\n"
        "chaos-budget peak=8417768 available=8388608\n"
        "not chaos-budget peak=1 available=2\n"
        "chaos-budget peak=12 available=\n"
    )
    assert budget_peaks(text) == [(0, AVAILABLE), (8_417_768, AVAILABLE)]


def test_a_budget_reached_and_kept_is_no_problem() -> None:
    peaks = {
        "member-0-1": [(1_000, AVAILABLE), (AVAILABLE + PARTITIONS * MESSAGE, AVAILABLE)],
        "member-1-1": [(2_000_000, AVAILABLE)],
    }
    assert budget_problems(peaks, MESSAGE) == []


def test_a_member_over_the_bound_is_named_with_its_figures() -> None:
    over = AVAILABLE + PARTITIONS * MESSAGE + 1
    peaks = {"member-0-1": [(AVAILABLE, AVAILABLE)], "member-1-1": [(over, AVAILABLE)]}
    problems = budget_problems(peaks, MESSAGE)
    assert len(problems) == 1
    assert problems[0].startswith(f"member-1-1 held {over:,} bytes, over the budget's bound")
    assert f"{PARTITIONS} messages of {MESSAGE:,}" in problems[0]


def test_a_run_that_never_reached_the_budget_did_not_test_it() -> None:
    peaks = {"member-0-1": [(int(AVAILABLE * 0.8), AVAILABLE)], "member-1-1": []}
    problems = budget_problems(peaks, MESSAGE)
    assert problems == [
        f"the budget was never reached (highest {int(AVAILABLE * 0.8):,} bytes held): "
        "the run did not test it"
    ]


def test_no_member_output_at_all_is_a_problem() -> None:
    assert budget_problems({}, MESSAGE) != []
