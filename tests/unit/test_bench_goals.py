"""The benchmark's goal evaluation (``bench/goals.py``) on fabricated entries: each goal met,
missed and not measured, without a broker (no time is asserted: the figures are made up); and
how the goals and the newer workloads' plots are shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import goals
from bench.contenders.common import Outcome
from bench.goals import GoalRow, evaluate, memory_bound
from bench.present import goals_markdown, goals_text, plot, text
from bench.workloads import BASELINE_NAME, MAX_MESSAGES, Entry

ALL = MAX_MESSAGES


def outcome(
    contender: str = "parafka_app",
    *,
    throughput: float = 1000.0,
    finished: bool = True,
    error: str | None = None,
    cpu_us: float = 5.0,
    p99: float | None = None,
    rss_mb: float = 100.0,
    violations: int | None = None,
) -> Outcome:
    return Outcome(
        contender=contender,
        finished=finished,
        error=error,
        processed=1000,
        seconds=1000 / throughput if finished else 0.0,
        throughput=throughput if finished else 0.0,
        began=0.0,
        partitions={},
        latency_ms=None if p99 is None else {"count": 100, "p50": p99 / 2, "p99": p99},
        cpu_seconds=cpu_us * 1000 / 1e6,
        cpu_us_per_message=cpu_us,
        peak_rss_mb=rss_mb,
        order_violations=violations,
    )


def parafka(
    workload: str,
    max_messages: int,
    level: int = 4,
    *,
    outcome_: Outcome | None = None,
    **fields: Any,
) -> Entry:
    return Entry(
        workload,
        level,
        f"parafka, max_messages {max_messages}",
        "parafka_app",
        outcome_ or outcome(),
        1000,
        max_messages=max_messages,
        **fields,
    )


def peer(workload: str, contender: str, out: Outcome, level: int = 10) -> Entry:
    return Entry(workload, level, contender.removeprefix("peer_"), contender, out, 1000)


# --- the batch-size goals ------------------------------------------------------------------------


def test_a_goal_met_at_every_max_messages_is_met() -> None:
    entries = [parafka("overhead", m, ratio=r) for m, r in zip(ALL, (0.95, 0.91, 0.9), strict=True)]
    result = goals.overhead({"overhead": entries})
    assert result.verdict == "met"
    assert result.reason == ""
    assert result.figure == (
        "0.95 at max_messages 10; 0.91 at max_messages 100; 0.90 at max_messages 500"
    )


def test_a_goal_missed_at_one_max_messages_is_missed_and_says_where() -> None:
    entries = [
        parafka("overhead", m, ratio=r) for m, r in zip(ALL, (0.71, 0.93, 0.88), strict=True)
    ]
    result = goals.overhead({"overhead": entries})
    assert result.verdict == "missed"
    assert result.reason == "not met at max_messages 10, 500"


def test_a_quick_run_of_one_max_messages_leaves_the_goal_not_measured() -> None:
    result = goals.overhead({"overhead": [parafka("overhead", 100, ratio=0.95)]})
    assert result.verdict == "not measured"
    assert result.reason == "max_messages 10, 500 did not run"
    assert result.figure == "0.95 at max_messages 100"


def test_a_miss_outweighs_the_max_messages_that_did_not_run() -> None:
    result = goals.overhead({"overhead": [parafka("overhead", 100, ratio=0.5)]})
    assert result.verdict == "missed"


def test_a_workload_that_did_not_run_is_not_measured() -> None:
    result = goals.io_efficiency({"overhead": []})
    assert result.verdict == "not measured"
    assert result.reason == "the io workload did not run"
    assert result.figure == ""


def test_a_failed_parafka_run_misses_the_goal() -> None:
    failed = outcome(finished=False, error="timed out after 600 s")
    entries = [parafka("io", m, 50, efficiency=0.95) for m in (10, 100)]
    entries.append(parafka("io", 500, 50, efficiency=0.0, outcome_=failed))
    result = goals.io_efficiency({"io": entries})
    assert result.verdict == "missed"
    assert "failed (timed out after 600 s) at max_messages 500" in result.figure


def test_io_goals_read_their_own_level_and_ignore_other_contenders() -> None:
    entries = [parafka("io", m, 50, efficiency=0.93) for m in ALL]
    entries += [parafka("io", m, 10, efficiency=0.2, outcome_=outcome(cpu_us=11.0)) for m in ALL]
    entries.append(Entry("io", 50, "naive", "naive", outcome(), 1000, efficiency=0.1))
    results = {"io": entries}
    assert goals.io_efficiency(results).verdict == "met"
    assert goals.cpu(results).verdict == "met"
    assert goals.cpu(results).figure.startswith("11.0 at max_messages 10")


def test_a_level_parafka_did_not_run_is_not_measured_and_says_which() -> None:
    quick = {"io": [parafka("io", 100, 50, efficiency=0.95)]}  # no c = 10 row
    result = goals.cpu(quick)
    assert result.verdict == "not measured"
    assert result.reason == "parafka did not run at c = 10 in io"
    assert goals.overhead({"overhead": []}).reason == "parafka did not run in overhead"


def test_cpu_above_the_bar_misses() -> None:
    entries = [parafka("io", m, 10, outcome_=outcome(cpu_us=20.3)) for m in ALL]
    assert goals.cpu({"io": entries}).verdict == "missed"


def test_hot_partition_reads_the_default_distribution_at_25_lanes() -> None:
    default = {"distribution": "balanced", "default_distribution": True}
    other = {"distribution": "consistent", "default_distribution": False}
    entries = [parafka("hot", m, 25, efficiency=0.97, extra=default) for m in ALL]
    entries += [parafka("hot", m, 10, efficiency=0.1, extra=default) for m in ALL]
    entries += [parafka("hot", 100, 25, efficiency=0.4, extra=other)]
    result = goals.hot_partition({"hot": entries})
    assert result.verdict == "met"
    assert "(balanced)" in result.workload


def test_more_workers_than_partitions_needs_a_ratio_of_one() -> None:
    entries = [
        parafka("oversubscribed", m, 50, ratio=r)
        for m, r in zip(ALL, (1.0, 1.02, 0.97), strict=True)
    ]
    entries += [parafka("oversubscribed", m, 20, ratio=1.0) for m in ALL]
    result = goals.oversubscribed({"oversubscribed": entries})
    assert result.verdict == "missed"
    assert result.reason == "not met at max_messages 500"


# --- latency -------------------------------------------------------------------------------------


def test_latency_is_met_when_parafka_is_at_or_below_the_best_peer() -> None:
    entries = [parafka("latency", m, 10, outcome_=outcome(p99=7.0)) for m in ALL]
    entries.append(peer("latency", "peer_arroyo", outcome("peer_arroyo", p99=7.2)))
    entries.append(peer("latency", "peer_quix", outcome("peer_quix", p99=9.0), level=1))
    # The naive pool is not a peer, and a failed peer does not count.
    entries.append(Entry("latency", 10, "naive", "naive", outcome("naive", p99=1.0), 1000))
    failed = outcome("peer_faust", p99=0.5, finished=False, error="boom")
    entries.append(peer("latency", "peer_faust", failed))
    result = goals.latency({"latency": entries})
    assert result.verdict == "met"
    assert result.figure.endswith("best peer: arroyo 7.2 ms")


def test_latency_is_missed_above_the_best_peer() -> None:
    entries = [parafka("latency", m, 10, outcome_=outcome(p99=12.9)) for m in ALL]
    entries.append(peer("latency", "peer_quix", outcome("peer_quix", p99=3.1), level=1))
    assert goals.latency({"latency": entries}).verdict == "missed"


def test_latency_without_a_peer_is_not_measured() -> None:
    entries = [parafka("latency", m, 10, outcome_=outcome(p99=7.0)) for m in ALL]
    result = goals.latency({"latency": entries})
    assert result.verdict == "not measured"
    assert result.reason == "no peer finished the latency workload"


# --- async ---------------------------------------------------------------------------------------


def async_entry(max_messages: int, throughput: float, violations: int, committed: int) -> Entry:
    expected = {"0": 500, "1": 500}
    return parafka(
        "async",
        max_messages,
        outcome_=outcome(throughput=throughput, violations=violations),
        extra={"committed": {"0": 500, "1": committed}, "expected": expected},
    )


def test_async_is_met_fast_in_order_and_committed_to_the_end() -> None:
    entries = [async_entry(m, 120_000.0, 0, 500) for m in ALL]
    faust = outcome("peer_faust", throughput=9_000.0, violations=37)
    entries.append(peer("async", "peer_faust", faust, level=1000))
    result = goals.async_consume({"async": entries})
    assert result.verdict == "met"
    assert result.figure.endswith("beside it: faust 9,000 msg/s, order broken (37)")


@pytest.mark.parametrize(
    ("throughput", "violations", "committed", "shown"),
    [
        (60_000.0, 0, 500, "60,000 msg/s at max_messages 10"),
        (120_000.0, 3, 500, "order broken (3)"),
        (120_000.0, 0, 499, "offsets short of the end"),
    ],
)
def test_async_is_missed_when_slow_out_of_order_or_short_of_the_end(
    throughput: float, violations: int, committed: int, shown: str
) -> None:
    entries = [async_entry(10, throughput, violations, committed)]
    entries += [async_entry(m, 120_000.0, 0, 500) for m in (100, 500)]
    result = goals.async_consume({"async": entries})
    assert result.verdict == "missed"
    assert result.reason == "not met at max_messages 10"
    assert shown in result.figure


# --- memory --------------------------------------------------------------------------------------


def memory_entries(budget: int | None, peak: float, baseline: float = 60.0) -> list[Entry]:
    extra: dict[str, Any] = {"budget_bytes": budget}
    if budget is None:
        extra["budget_unavailable"] = "App has no max_buffered_bytes"
    base = Entry(
        "memory",
        10,
        BASELINE_NAME,
        "parafka_app",
        outcome(rss_mb=baseline),
        1,
        extra={"baseline": True},
    )
    app = Entry("memory", 10, "parafka", "parafka_app", outcome(rss_mb=peak), 2000, extra=extra)
    bare = Entry("memory", 1, "bare", "bare", outcome("bare", rss_mb=900.0), 2000)
    return [base, app, bare]


def test_memory_within_budget_and_baseline_is_met() -> None:
    entries = memory_entries(64 * 2**20, peak=120.0)
    assert memory_bound(entries) == pytest.approx(124.0)
    result = goals.memory({"memory": entries})
    assert result.verdict == "met"
    assert result.figure == "peak RSS 120 MiB, baseline 60 MiB, budget 64 MiB, bound 124 MiB"


def test_memory_above_the_bound_is_missed() -> None:
    result = goals.memory({"memory": memory_entries(64 * 2**20, peak=300.0)})
    assert result.verdict == "missed"
    assert result.reason == "176 MiB over the bound"


def test_memory_without_the_budget_setting_is_not_measured_and_says_why() -> None:
    entries = memory_entries(None, peak=700.0)
    assert memory_bound(entries) is None
    result = goals.memory({"memory": entries})
    assert result.verdict == "not measured"
    assert result.reason == "not available: App has no max_buffered_bytes"
    assert result.figure == "peak RSS 700 MiB, baseline 60 MiB"


# --- all of them ---------------------------------------------------------------------------------


def test_evaluate_gives_every_goal_once_in_order_even_from_nothing() -> None:
    rows = evaluate({})
    assert [r.workload.split(" ")[0] for r in rows] == [
        "overhead:",
        "IO-bound",
        "one",
        "more",
        "CPU",
        "p99",
        "`async",
        "1,000",
        "CPU-bound",
        "mixed",
    ]
    assert {r.verdict for r in rows} == {"not measured"}
    assert all(r.reason for r in rows)


def test_the_goals_are_printed_and_written_with_their_verdicts() -> None:
    rows = [
        GoalRow("overhead", ">= 0.9", "0.95 at max_messages 10", "met"),
        GoalRow("memory", "peak <= bound", "", "not measured", "not available: no setting"),
        GoalRow("cpu | per message", "<= 12", "20.3", "missed", "not met at max_messages 10"),
    ]
    printed = goals_text(rows)
    assert "MET           overhead  [goal: >= 0.9]" in printed
    assert "(not available: no setting)" in printed
    assert "MISSED" in printed
    written = goals_markdown(rows)
    assert "| overhead | >= 0.9 | 0.95 at max_messages 10 | yes |" in written
    assert "| memory | peak <= bound | — | **not measured**: not available: no setting |" in written
    assert "cpu \\| per message" in written  # a pipe cannot break the table
    assert rows[0].to_json()["verdict"] == "met"


def test_lower_figures_fail_and_higher_ones_pass_at_the_bar_itself() -> None:
    at_bar = [parafka("overhead", m, ratio=goals.OVERHEAD_MIN_RATIO) for m in ALL]
    assert goals.overhead({"overhead": at_bar}).verdict == "met"
    fast = [async_entry(m, goals.ASYNC_MIN_THROUGHPUT, 0, 500) for m in ALL]
    assert goals.async_consume({"async": fast}).verdict == "met"
    assert evaluate({"overhead": at_bar})[0].verdict == "met"


# --- plots ---------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("budget", [64 * 2**20, None])
def test_the_memory_plot_draws_with_and_without_a_budget(
    tmp_path: Path, budget: int | None
) -> None:
    image = plot("memory", memory_entries(budget, peak=120.0), tmp_path)
    assert image is not None
    assert image.read_bytes()[:8] == PNG


def test_the_async_and_oversubscribed_plots_draw_one_bar_per_row(tmp_path: Path) -> None:
    rows = [parafka("async", m, outcome_=outcome(throughput=9e4)) for m in ALL]
    assert (image := plot("async", rows, tmp_path)) is not None
    assert image.read_bytes()[:8] == PNG
    pair = [parafka("oversubscribed", 100, c, ratio=1.0) for c in (20, 50)]
    assert (image := plot("oversubscribed", pair, tmp_path)) is not None
    assert image.name == "oversubscribed.png"
    assert "parafka, max_messages 100  20" in text("oversubscribed", pair)
