"""The benchmark's pieces for contenders that work in several processes, without a broker: the
CPU work and its plan, the order check of messages processed elsewhere, the reports from other
processes (a real Unix socket), and CPU time and peak RSS over a process tree. No time is
asserted: where the CPU time of a child is checked, the child burns a known amount of CPU first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from bench.contenders import common, remote
from bench.contenders.common import Recorder, Spec, Usage, sequenced_value
from bench.contenders.order import Deliveries
from bench.contenders.processes import ProcessUsage, descendants, parse_stat, tree_usage
from bench.contenders.remote import Collector, Probe, decode, encode
from bench.contenders.work import Plan, plan, spin


def make_spec(**overrides: object) -> Spec:
    fields: dict[str, object] = {
        "contender": "test",
        "bootstrap": "127.0.0.1:9092",
        "topic": "t",
        "group": "g",
        "partitions": 2,
        "concurrency": 2,
        "expected": {0: 2, 1: 2},
    }
    fields.update(overrides)
    return Spec(**fields)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.01)


# --- the work ------------------------------------------------------------------------------------


def test_spin_is_deterministic_and_depends_on_its_arguments() -> None:
    assert spin(1000, 7) == spin(1000, 7)
    assert spin(1000, 7) != spin(1001, 7)
    assert spin(1000, 7) != spin(1000, 8)
    assert spin(0, 5) == 5


def test_the_plan_of_a_cpu_spec_is_the_work_and_the_sleep() -> None:
    assert plan(1650, 0.0, False, 42) == Plan(1650, 0.0, 42)
    assert plan(1650, 0.001, False, None) == Plan(1650, 0.001, 0)


def test_a_mixed_plan_alternates_cpu_and_sleep_by_place() -> None:
    costs = [plan(1650, 0.001, True, place) for place in range(4)]
    assert [(c.iterations, c.sleep) for c in costs] == [
        (1650, 0.0),
        (0, 0.001),
        (1650, 0.0),
        (0, 0.001),
    ]


def test_the_spec_carries_the_work_and_says_it_is_timed() -> None:
    spec = make_spec(cpu_iterations=1650, mixed=True, cost_ms=1.0)
    back = Spec.from_json(spec.to_json())
    assert back == spec
    assert back.timed
    assert back.plan_for(0, 3) == Plan(0, 0.001, 3)
    assert not make_spec().timed
    assert make_spec(cpu_iterations=1).timed


def test_the_recorder_pays_each_message_its_planned_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    paid: list[Plan] = []
    monkeypatch.setattr(common, "perform", paid.append)
    recorder = Recorder(make_spec(cpu_iterations=10, mixed=True, cost_ms=1.0, check_order=True))
    for place in range(2):
        for partition in (0, 1):
            recorder.process(partition, sequenced_value(partition, place, 100))
    assert [(p.iterations, p.sleep) for p in paid] == [(10, 0.0)] * 2 + [(0, 0.001)] * 2
    assert recorder.done.is_set()
    usage = Usage()
    usage.stop()
    assert recorder.outcome(usage, finished=True).order_violations == 0


# --- order of messages processed elsewhere -------------------------------------------------------


def test_deliveries_in_order_one_after_another_break_nothing() -> None:
    runs = Deliveries()
    for sequence in range(5):
        assert runs.add(1, sequence, began=sequence * 1.0, ended=sequence + 0.5)
    runs.add(2, 0, began=0.2, ended=0.4)  # another key meanwhile: fine
    assert runs.check() == (0, 0)


def test_deliveries_count_a_step_back_and_an_overlap() -> None:
    runs = Deliveries()
    runs.add(1, 0, began=0.0, ended=1.0)
    runs.add(1, 2, began=1.0, ended=2.0)
    runs.add(1, 1, began=2.0, ended=3.0)  # began after a later one: out of order
    runs.add(1, 3, began=2.5, ended=3.5)  # began before 1 ended: two at once
    assert runs.check() == (2, 0)


def test_a_message_processed_again_is_a_redelivery_not_an_order_break() -> None:
    runs = Deliveries()
    for sequence in range(4):  # node A
        runs.add(7, sequence, began=float(sequence), ended=sequence + 0.5)
    # node B after the rebalance: from the last committed offset, 2, on
    assert not runs.add(7, 2, began=10.0, ended=10.5)
    assert not runs.add(7, 3, began=11.0, ended=11.5)
    assert runs.add(7, 4, began=12.0, ended=12.5)
    assert runs.check() == (0, 2)


def test_reports_arriving_out_of_time_order_are_checked_in_time_order() -> None:
    runs = Deliveries()
    runs.add(1, 1, began=1.0, ended=1.5)  # reported first, began second
    runs.add(1, 0, began=0.0, ended=0.5)
    assert runs.check() == (0, 0)


def test_the_recorder_counts_a_message_from_elsewhere_once_and_times_it_where_it_ran() -> None:
    recorder = Recorder(make_spec(expected={0: 2}, partitions=1, check_order=True))
    recorder.record_elsewhere(0, (0, 1), began=101.0, ended=102.0)  # arrives first
    recorder.record_elsewhere(0, (0, 0), began=100.0, ended=101.0)
    assert recorder.done.is_set()
    recorder.record_elsewhere(0, (0, 1), began=103.0, ended=104.0)  # processed again
    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=True)
    assert outcome.processed == 2
    assert outcome.redelivered == 1
    assert outcome.order_violations == 0
    assert outcome.began == 100.0
    assert outcome.seconds == pytest.approx(2.0)  # from the first begin to the last end
    assert outcome.partitions["0"]["first"] == 101.0
    assert outcome.all_working_after_s is None  # one process (or unknown): no such figure


def test_the_throughput_once_every_process_works_counts_from_the_last_ones_first() -> None:
    recorder = Recorder(make_spec(expected={0: 4, 1: 2}, check_order=True))
    for place in range(4):  # process 1 alone, 1 s a message, from 10.0
        recorder.record_elsewhere(0, (0, place), 10.0 + place, 11.0 + place, process=1)
    recorder.record_elsewhere(1, (1, 0), 12.0, 13.0, process=2)  # process 2 from 12.0
    recorder.record_elsewhere(1, (1, 1), 13.0, 14.0, process=2)
    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=True)
    assert outcome.seconds == pytest.approx(4.0)
    assert outcome.all_working_after_s == pytest.approx(2.0)
    # from 12.0 to the end at 14.0: places 2 and 3 of partition 0 and both of partition 1
    assert outcome.all_working_throughput == pytest.approx(4 / 2.0)


# --- reports from other processes ----------------------------------------------------------------


def test_reports_round_trip_through_a_datagram() -> None:
    reports = [(4242, 3, 3, 41, 1.5, 1.75), (4243, 19, -1, 0, 2.0, 2.0)]
    assert decode(encode(reports)) == reports
    assert decode(encode(reports)[:-3]) == reports[:1]  # a truncated tail is dropped


def test_a_probe_reports_every_message_to_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_spec(expected={0: 300, 1: 1}, check_order=True, cpu_iterations=10)
    recorder = Recorder(spec)
    with Collector(recorder) as collector:
        for name, value in collector.environment().items():
            monkeypatch.setenv(name, value)
        probe = Probe(spec, collector.address)
        for place in range(300):  # more than one datagram's worth
            probe.process(0, sequenced_value(0, place, 100))
        probe.record_many(1, 1)
        probe.close()
        wait_for(recorder.done.is_set, "the collector recorded every report")
        assert collector.reports == 301
        made = remote.probe()
        assert made is remote.probe()  # one per process, from the environment
        made.close()
        del remote._probes[os.getpid()]
    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=True)
    assert outcome.processed == 301
    assert outcome.order_violations == 0
    assert outcome.redelivered == 0


def test_a_probe_sends_what_it_buffered_without_being_asked() -> None:
    spec = make_spec(expected={0: 1}, partitions=1)
    recorder = Recorder(spec)
    with Collector(recorder) as collector:
        probe = Probe(spec, collector.address)
        probe.process(0, None)  # one message: far from a full datagram
        wait_for(recorder.done.is_set, "the probe's thread sent the report")
        probe.close()


# --- CPU and memory of a process tree ------------------------------------------------------------


def test_stat_lines_are_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    fields = ["S", "4242"] + ["0"] * 9 + ["150", "50", "30", "20"] + ["0"] * 30
    text = "777 (a (weird) name) " + " ".join(fields)
    ppid, cpu = parse_stat(text, ticks_per_second=100)
    assert ppid == 4242
    assert cpu == pytest.approx(2.5)


def test_descendants_are_every_process_below_the_root() -> None:
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert descendants(10, parents) == [11, 12, 13]
    assert descendants(13, parents) == []


def test_a_tree_sums_cpu_and_peaks_and_counts_the_processes() -> None:
    others = [ProcessUsage(11, 10, 1.5, 1000), ProcessUsage(12, 10, 0.5, 3000)]
    total = tree_usage(own_cpu_seconds=1.0, own_peak_kib=2000, others=others)
    assert total.cpu_seconds == pytest.approx(3.0)
    assert total.peak_kib == 6000
    assert total.processes == 3


def test_usage_includes_a_live_child_process() -> None:
    burn = (
        "import time\n"
        "while time.process_time() < 0.3: pass\n"
        "print('burnt', flush=True)\n"
        "time.sleep(60)\n"
    )
    usage = Usage()
    with subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "burnt"
            usage.stop()
        finally:
            child.kill()
    assert usage.processes() == 2
    assert usage.cpu_seconds() >= 0.28  # the child's 0.3 s, in clock ticks
    assert usage.peak_rss_mb() > 5


def test_usage_of_this_process_alone_counts_one_process() -> None:
    usage = Usage()
    usage.stop()
    assert usage.processes() == 1
    assert usage.cpu_seconds() >= 0.0
