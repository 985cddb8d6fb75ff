"""The pure parts of the benchmark's contender framework (``bench/contenders/common.py``) and the
contender process's reporting, without a broker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bench.contenders import common
from bench.contenders.common import (
    RESULT_PREFIX,
    STAMP_WIDTH,
    KeyOrder,
    Outcome,
    Recorder,
    Spec,
    Unsupported,
    Usage,
    sent_at,
    sequence_of,
    sequenced_value,
    stamp_value,
)

ROOT = Path(__file__).resolve().parents[2]


def make_spec(**overrides: object) -> Spec:
    fields: dict[str, object] = {
        "contender": "test",
        "bootstrap": "127.0.0.1:9092",
        "topic": "t",
        "group": "g",
        "partitions": 3,
        "concurrency": 2,
        "expected": {0: 2, 1: 3},
    }
    fields.update(overrides)
    return Spec(**fields)  # type: ignore[arg-type]


def test_spec_json_round_trip_keeps_int_partition_keys() -> None:
    spec = make_spec(
        expected={0: 5, 7: 9},
        partition_cost_ms={7: 2.5},
        cost_ms=1.0,
        latency=True,
        options={"kafka": {"fetch.min.bytes": 1}},
    )
    back = Spec.from_json(spec.to_json())
    assert back == spec
    assert list(back.expected) == [0, 7]
    assert list(back.partition_cost_ms) == [7]
    assert back.total == 14
    assert back.cost_of(7) == pytest.approx(0.0025)
    assert back.cost_of(0) == pytest.approx(0.001)


def test_recorder_is_done_when_every_expected_partition_is() -> None:
    recorder = Recorder(make_spec(expected={0: 2, 1: 3}))
    recorder.record(0, None)
    recorder.record(2, None)  # not expected: counted, never waited for
    recorder.record(0, None)
    assert not recorder.done.is_set()
    recorder.record_many(1, 2)
    assert not recorder.done.is_set()
    recorder.record_many(1, 5)  # more than is left: done all the same
    assert recorder.done.is_set()

    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=True)
    assert outcome.processed == 2 + 1 + 7
    assert {p: v["count"] for p, v in outcome.partitions.items()} == {"0": 2, "1": 7, "2": 1}
    assert outcome.partitions["2"]["reached"] == 0.0  # the excluded partition never "reaches"
    assert outcome.finished
    assert outcome.seconds >= 0.0
    assert outcome.latency_ms is None
    assert outcome.unsupported is None


def test_excluded_partition_alone_does_not_finish_the_run() -> None:
    recorder = Recorder(make_spec(expected={0: 1, 1: 0}))  # 1 expects nothing: not waited for
    recorder.record_many(1, 100)
    assert not recorder.done.is_set()
    recorder.process(0, None)  # no cost: records at once
    assert recorder.done.is_set()


def test_nothing_expected_is_done_from_the_start() -> None:
    assert Recorder(make_spec(expected={0: 0})).done.is_set()


def test_latency_percentiles_from_stamped_values(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_000_000.0
    monkeypatch.setattr(common.time, "time", lambda: now)
    recorder = Recorder(make_spec(expected={0: 5}, latency=True))
    early = stamp_value(40)  # sent before the first record: not counted
    now += 0.001
    recorder.record(0, early)  # the first record: latencies count from here on
    sent = [stamp_value(40)]  # sent now
    now += 0.010
    sent.append(stamp_value(40))  # sent 10 ms after the first
    assert all(len(value) == 40 for value in sent)
    assert sent_at(sent[0]) == pytest.approx(1_000_000.001)

    now += 0.090  # processed 100 ms and 90 ms after they were sent
    recorder.record_many(0, 3, [*sent, b"not stamped"])
    usage = Usage()
    usage.stop()
    latency = recorder.outcome(usage, finished=True).latency_ms
    assert latency is not None
    assert latency["count"] == 2
    assert latency["p50"] == pytest.approx(100.0, abs=0.01)
    assert latency["p99"] == pytest.approx(100.0, abs=0.01)
    assert latency["max"] == pytest.approx(100.0, abs=0.01)


def test_latency_warm_up_leaves_out_the_first_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 2_000_000.0
    monkeypatch.setattr(common.time, "time", lambda: now)
    recorder = Recorder(make_spec(expected={0: 3}, latency=True, options={"latency_warmup_s": 1.0}))
    recorder.record(0, stamp_value(40))  # starts the clock: counted from now + 1 s
    now += 0.5
    recorder.record(0, stamp_value(40))  # sent within the warm-up
    now += 1.0
    stamped = stamp_value(40)
    now += 0.020
    recorder.record(0, stamped)
    usage = Usage()
    usage.stop()
    latency = recorder.outcome(usage, finished=True).latency_ms
    assert latency is not None
    assert latency["count"] == 1
    assert latency["max"] == pytest.approx(20.0, abs=0.01)


def test_sent_at_ignores_values_without_a_stamp() -> None:
    assert sent_at(None) is None
    assert sent_at(b"") is None
    assert sent_at(b"x" * (STAMP_WIDTH - 1)) is None
    assert sent_at(b"x" * 100) is None


def test_an_expected_total_ends_the_run_from_any_partitions() -> None:
    recorder = Recorder(make_spec(expected={}, expected_total=5, partitions=1000))
    assert not recorder.done.is_set()
    recorder.record_many(7, 2)
    recorder.record_many(900, 2)
    assert not recorder.done.is_set()
    recorder.record(3, None)
    assert recorder.done.is_set()
    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=True)
    assert outcome.processed == 5
    assert outcome.seconds > 0  # ends when the total was reached, no partition "reaches"
    assert make_spec(expected={0: 2}, expected_total=5).total == 5
    assert make_spec(expected={0: 9}, expected_total=5).total == 9


def test_sequenced_values_carry_key_and_sequence_at_any_size() -> None:
    value = sequenced_value(7, 42, 100)
    assert len(value) == 100
    assert sequence_of(value) == (7, 42)
    assert sequence_of(sequenced_value(999, 123456, 4)) == (999, 123456)  # never cut short
    for other in (None, b"", b"x" * 100, stamp_value(100), b"7:x;", b"742;"):
        assert sequence_of(other) is None


def test_key_order_counts_overlaps_and_steps_back_per_key() -> None:
    order = KeyOrder()
    for sequence in range(3):  # one key, one after another
        order.began(1, sequence)
        order.finished(1)
    order.began(2, 0)  # another key meanwhile: fine
    assert order.violations == 0
    order.began(1, 3)
    order.began(1, 4)  # began while 3 of its key still runs
    assert order.violations == 1
    order.finished(1)
    order.finished(1)
    order.began(1, 2)  # after 4 began: out of order
    order.finished(1)
    order.began(1, 4)  # again: a redelivery
    assert order.violations == 3


def test_recorder_checks_order_only_when_asked() -> None:
    spec = make_spec(expected={0: 3}, check_order=True)
    recorder = Recorder(spec)
    recorder.process(0, sequenced_value(5, 0, 100))
    recorder.process(0, sequenced_value(5, 2, 100))
    recorder.process(0, sequenced_value(5, 1, 100))  # a step back
    usage = Usage()
    usage.stop()
    assert recorder.outcome(usage, finished=True).order_violations == 1

    unchecked = Recorder(make_spec(expected={0: 1}))
    unchecked.process(0, sequenced_value(5, 0, 100))
    assert unchecked.outcome(usage, finished=True).order_violations is None


def test_async_recorder_sees_concurrent_messages_of_one_key() -> None:
    import asyncio

    recorder = Recorder(make_spec(expected={0: 4}, check_order=True, cost_ms=1.0))

    async def main() -> None:
        values = [sequenced_value(1, n, 100) for n in range(4)]
        await recorder.process_async(0, values[0])  # alone: in order
        await asyncio.gather(*(recorder.process_async(0, v) for v in values[1:]))

    asyncio.run(main())
    usage = Usage()
    usage.stop()
    assert recorder.outcome(usage, finished=True).order_violations == 2  # 2 and 3 overlapped


def test_outcome_json_round_trip() -> None:
    recorder = Recorder(make_spec(expected={0: 1}))
    recorder.record(0, None)
    usage = Usage()
    usage.stop()
    outcome = recorder.outcome(usage, finished=False, unsupported="no way")
    assert Outcome.from_json(outcome.to_json()) == outcome
    assert outcome.unsupported == "no way"
    assert outcome.cpu_seconds >= 0.0
    assert outcome.peak_rss_mb > 0.0


def _run_contender_process(body: str, spec: Spec) -> tuple[int, list[Outcome]]:
    """Run ``bench.contenders.__main__`` with a contender module ``fake`` whose source is
    ``body`` (put in ``sys.modules`` first), and parse its outcome lines."""
    driver = textwrap.dedent(
        f"""
        import sys, types
        module = types.ModuleType("bench.contenders.fake")
        exec({body!r}, module.__dict__)
        sys.modules["bench.contenders.fake"] = module
        from bench.contenders.__main__ import main
        main(["fake", sys.argv[1]])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", driver, spec.to_json()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outcomes = [
        Outcome.from_json(line[len(RESULT_PREFIX) :])
        for line in done.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    return done.returncode, outcomes


def test_unsupported_is_reported_as_such_not_as_an_error() -> None:
    body = (
        "from bench.contenders.common import Unsupported\n"
        "def run(spec, recorder):\n"
        "    raise Unsupported('needs more processes')\n"
    )
    status, outcomes = _run_contender_process(body, make_spec(contender="fake"))
    assert status == 0
    assert len(outcomes) == 1
    outcome = outcomes[0]
    assert outcome.unsupported == "needs more processes"
    assert outcome.error is None
    assert not outcome.finished


def test_contender_process_reports_a_finished_run() -> None:
    body = (
        "def run(spec, recorder):\n"
        "    for partition, count in spec.expected.items():\n"
        "        recorder.record_many(partition, count)\n"
    )
    status, outcomes = _run_contender_process(body, make_spec(contender="fake"))
    assert status == 0
    assert len(outcomes) == 1
    assert outcomes[0].finished
    assert outcomes[0].processed == 5
    assert outcomes[0].error is None


def test_unsupported_is_an_exception() -> None:
    with pytest.raises(Unsupported, match="why"):
        raise Unsupported("why")
