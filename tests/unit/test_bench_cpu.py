"""The CPU workloads of the benchmark (``bench/cpu.py``, ``bench/calibration.py``) and their
goals, without a broker: the calibration with a fake clock, the specs every contender gets, the
ratios, and the swarm goal met, missed, not measured and reported on fabricated entries (no time
is asserted: the figures are made up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench import cpu, goals
from bench.calibration import Calibration, calibrate, iterations_for
from bench.contenders.catalog import traits
from bench.contenders.common import Outcome
from bench.contenders.venvs import virtualenv_of
from bench.goals import GoalRow, evaluate
from bench.present import goals_markdown, goals_text, plot, text
from bench.workloads import WORKLOADS, Context, Entry

# --- calibration ---------------------------------------------------------------------------------


def test_iterations_come_from_the_fastest_round() -> None:
    # 100,000 iterations took 12 ms at best: 120 ns each, so 200 µs is 1,667 of them.
    assert iterations_for(200e-6, 100_000, [0.020, 0.012, 0.015]) == 1667
    assert iterations_for(1e-9, 100_000, [0.012]) == 1  # never 0


@pytest.mark.parametrize("rounds", [[], [0.0, 0.01]])
def test_a_calibration_without_usable_rounds_is_refused(rounds: list[float]) -> None:
    with pytest.raises(ValueError, match="calibration"):
        iterations_for(200e-6, 100_000, rounds)


def fake_clock(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


def test_calibrate_derives_the_count_and_records_what_it_measured() -> None:
    ticks = fake_clock(0.001)  # every timed call "takes" 1 ms
    result = calibrate(200.0, clock=lambda: next(ticks), probe_iterations=1000, rounds=3, checks=5)
    # 1,000 iterations in 1 ms: 1 µs each, so 200 µs is 200 of them.
    assert result.iterations == 200
    assert result.ns_per_iteration == pytest.approx(1000.0)
    assert result.measured_us == pytest.approx(1000.0)
    assert result.rounds_ms == (1.0, 1.0, 1.0)
    assert result.to_json()["iterations"] == 200


# --- the specs -----------------------------------------------------------------------------------


def context(peers: tuple[str, ...] = ("peer_arroyo", "peer_faststream", "peer_faust")) -> Context:
    calibration = Calibration(200.0, 1650, 121.0, 199.0, (12.0,))
    return Context("127.0.0.1:9092", False, peers, 0.00106, print, {}, calibration)


def test_every_contender_gets_the_same_work_and_checks_order() -> None:
    rows = cpu.process_specs(context(), ("t", "t-peers"), (100_000, 30_000), 1650, mixed=False)
    contenders = [spec.contender for _, spec in rows]
    assert contenders == [
        "parafka_app",
        "parafka_swarm",
        "peer_arroyo_multiprocessing",
        "peer_faststream_workers",
    ]
    for _, spec in rows:
        assert spec.cpu_iterations == 1650
        assert not spec.mixed
        assert spec.cost_ms == 0.0
        assert spec.check_order
        assert spec.partitions == cpu.CPU_PARTITIONS
    threads, swarm, arroyo, faststream = (spec for _, spec in rows)
    assert threads.topic == swarm.topic == "t"
    assert threads.total == swarm.total == 100_000
    assert arroyo.topic == faststream.topic == "t-peers"
    assert arroyo.total == 30_000
    assert threads.concurrency == swarm.concurrency == cpu.CPU_CONCURRENCY
    assert swarm.options["processes"] == arroyo.options["processes"] == cpu.PROCESSES
    assert faststream.concurrency * cpu.PROCESSES == cpu.CPU_PARTITIONS  # a consumer each
    assert len({spec.group for _, spec in rows}) == len(rows)  # a group each
    names = [name for name, _ in rows]
    assert names[1] == "parafka 0.1.0 swarm, 2 nodes"
    assert names[3] == "FastStream 0.7.8 (aiokafka) --workers 2"


def test_the_mixed_specs_sleep_at_odd_places_and_run_one_worker_per_partition() -> None:
    rows = cpu.process_specs(context(()), ("t", "t"), (1000, 1000), 1650, mixed=True)
    assert [spec.contender for _, spec in rows] == ["parafka_app", "parafka_swarm"]
    for _, spec in rows:
        assert spec.mixed
        assert spec.cost_ms == cpu.MIXED_SLEEP_MS
        assert spec.concurrency == cpu.MIXED_CONCURRENCY
        assert spec.plan_for(0, 0).iterations == 1650
        assert spec.plan_for(0, 1).sleep == pytest.approx(0.001)


def test_the_multi_process_peers_run_in_their_frameworks_virtualenvs() -> None:
    assert virtualenv_of("peer_arroyo_multiprocessing") == "peer_arroyo"
    assert virtualenv_of("peer_faststream_workers") == "peer_faststream"
    assert virtualenv_of("peer_arroyo") == "peer_arroyo"
    assert virtualenv_of("parafka_swarm") == "parafka_swarm"  # none: parafka's interpreter
    assert traits("peer_faststream_workers").key_order
    assert not traits("peer_arroyo_multiprocessing").key_order
    assert traits("parafka_swarm").processes == 2
    assert "cpu_bound" in WORKLOADS
    assert "mixed" in WORKLOADS


# --- ratios and goals ----------------------------------------------------------------------------


def outcome(
    contender: str,
    throughput: float,
    *,
    finished: bool = True,
    violations: int | None = 0,
    redelivered: int | None = None,
    unsupported: str | None = None,
    working: tuple[float, float] | None = None,
) -> Outcome:
    return Outcome(
        contender=contender,
        finished=finished,
        error=None if finished else "timed out after 600 s",
        processed=1000,
        seconds=1000 / throughput if finished else 0.0,
        throughput=throughput if finished else 0.0,
        began=0.0,
        partitions={},
        latency_ms=None,
        cpu_seconds=0.5,
        cpu_us_per_message=500.0,
        peak_rss_mb=100.0,
        unsupported=unsupported,
        order_violations=violations,
        redelivered=redelivered,
        processes=1 if contender == "parafka_app" else 4,
        all_working_after_s=None if working is None else working[0],
        all_working_throughput=None if working is None else working[1],
    )


def entry(
    workload: str, contender: str, out: Outcome, committed: int = 500, level: int = 4
) -> Entry:
    extra = {"committed": {"0": 500, "1": committed}, "expected": {"0": 500, "1": 500}}
    return Entry(workload, level, contender, contender, out, 1000, extra=extra)


def run_of(
    workload: str,
    swarm: Outcome,
    threads: Outcome | None = None,
    swarm_committed: int = 500,
) -> dict[str, list[Entry]]:
    entries = [
        entry(workload, "parafka_app", threads or outcome("parafka_app", 4000.0)),
        entry(workload, "parafka_swarm", swarm, swarm_committed),
        entry(
            workload,
            "peer_arroyo_multiprocessing",
            outcome("peer_arroyo_multiprocessing", 2600.0, violations=700),
        ),
    ]
    return {workload: cpu.with_ratios(entries)}


def test_ratios_are_to_parafka_in_one_process() -> None:
    entries = run_of("cpu_bound", outcome("parafka_swarm", 7600.0))["cpu_bound"]
    assert [e.ratio for e in entries] == pytest.approx([1.0, 1.9, 0.65])
    failed = run_of("cpu_bound", outcome("parafka_swarm", 7600.0), outcome("x", 1, finished=False))
    assert all(e.ratio is None for e in failed["cpu_bound"])


def test_the_swarm_goal_is_met_at_the_ratio_with_order_and_offsets_kept() -> None:
    swarm = outcome("parafka_swarm", 7200.0, redelivered=3, working=(3.0, 8000.0))
    row = goals.swarm_cpu(run_of("cpu_bound", swarm))
    assert row.verdict == "met"
    assert row.figure.startswith(
        "1.80 (7,200 vs 4,000 msg/s), swarm processed 3 twice; "
        "from when both nodes worked (3.0 s in): 2.00"
    )
    assert row.figure.endswith("beside it: peer_arroyo_multiprocessing 0.65, order broken (700)")


@pytest.mark.parametrize(
    ("swarm", "committed", "reason"),
    [
        (outcome("parafka_swarm", 6000.0, working=(3.0, 9000.0)), 500, "ratio 1.50 < 1.8"),
        (outcome("parafka_swarm", 8000.0, violations=2), 500, "swarm: order broken (2)"),
        (outcome("parafka_swarm", 8000.0, violations=None), 500, "swarm: order not checked"),
        (outcome("parafka_swarm", 8000.0), 499, "swarm: offsets short of the end"),
        (outcome("parafka_swarm", 1.0, finished=False), 500, "the swarm run failed"),
    ],
)
def test_the_swarm_goal_is_missed_and_says_why(swarm: Outcome, committed: int, reason: str) -> None:
    row = goals.swarm_cpu(run_of("cpu_bound", swarm, swarm_committed=committed))
    assert row.verdict == "missed"
    assert reason in row.reason


def test_the_swarm_goal_is_not_measured_without_its_rows() -> None:
    assert goals.swarm_cpu({}).reason == "the cpu_bound workload did not run"
    only_threads = {"cpu_bound": [entry("cpu_bound", "parafka_app", outcome("parafka_app", 1.0))]}
    assert goals.swarm_cpu(only_threads).reason == "parafka swarm did not run in cpu_bound"
    no_swarm = outcome("parafka_swarm", 1.0, finished=False, unsupported="no parafka.swarm")
    row = goals.swarm_cpu(run_of("cpu_bound", no_swarm))
    assert (row.verdict, row.reason) == ("not measured", "no parafka.swarm")


def test_the_mixed_row_reports_the_ratio_without_a_bar() -> None:
    row = goals.swarm_mixed(run_of("mixed", outcome("parafka_swarm", 5000.0)))
    assert row.verdict == "reported"
    assert row.figure.startswith("1.25 (5,000 vs 4,000 msg/s)")
    printed = goals_text([row])
    assert "REPORTED" in printed
    assert "| (no bar) |" in goals_markdown([row])
    assert [r.workload.split(" ")[0] for r in evaluate({})][-2:] == ["CPU-bound", "mixed"]


def test_the_cpu_tables_and_plots_show_every_row(tmp_path: Path) -> None:
    entries = run_of("cpu_bound", outcome("parafka_swarm", 7200.0))["cpu_bound"]
    table = text("cpu_bound", entries)
    assert "1.80" in table
    assert "parafka_swarm" in table
    image = plot("mixed", run_of("mixed", outcome("parafka_swarm", 5000.0))["mixed"], tmp_path)
    assert image is not None
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(goals.swarm_cpu({}), GoalRow)
