"""bench.stages and bench.memory: the per-stage quantiles, what the slowest 1 % is made of, and
the memory probe's readings."""

from __future__ import annotations

from bench.memory import queue_bytes, rss_mib
from bench.stages import Stamps, quantile, report


def test_quantile_is_the_nearest_rank_below() -> None:
    assert quantile([], 0.5) == 0.0
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([float(i) for i in range(100)], 0.99) == 99.0


def stamps(sent: float, queued: float) -> Stamps:
    """A message 1 ms to the broker, 1 ms to the poll, ``queued`` behind its batch's start."""
    return Stamps(
        sent=sent,
        appended=sent + 0.001,
        polled=sent + 0.002,
        batch_started=sent + 0.002,
        started=sent + 0.002 + queued,
        done=sent + 0.003 + queued,
    )


def test_the_report_skips_the_warm_up_and_explains_the_tail() -> None:
    # 100 messages after the warm-up; the slowest waited 50 ms behind its batch.
    early = [stamps(0.0, 1.0)]  # sent in the first second: not counted
    kept = [stamps(1.0 + i / 100, 0.0) for i in range(99)] + [stamps(2.0, 0.05)]
    lines = report(early + kept)
    assert lines[0] == "100 messages (from 1 s after the first)"
    total = next(line for line in lines if line.strip().startswith("total"))
    assert "p50   3.00" in total
    assert "p99  53.00" in total
    assert lines[-1].endswith(
        "send -> append 1.00, append -> poll 1.00, poll -> batch 0.00, "
        "batch -> message 50.00, message -> done 1.00"
    )
    assert report([]) == ["no messages"]


def test_the_memory_probe_reads_librdkafkas_queue_and_this_process_rss() -> None:
    statistics = {
        "topics": {
            "t": {"partitions": {"0": {"fetchq_size": 5}, "1": {"fetchq_size": 7}, "-1": {}}}
        }
    }
    assert queue_bytes(statistics) == 7
    assert queue_bytes({}) == 0
    current, peak = rss_mib()
    assert 0 < current <= peak
