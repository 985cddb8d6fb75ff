"""The benchmark's built-in contenders against the real broker, each in its own process, and
the suite's tables and plots from their outcomes (no timing is asserted, only what was
processed and that the reports hold it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bench.contenders.common import Spec, sequenced_value
from bench.contenders.runner import run_contender
from bench.present import markdown, plot, text
from bench.workloads import Entry

from parafka.testing import committed_offsets, produce_messages

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("contender", "options", "cost_ms"),
    [
        ("bare", {}, 0.0),
        ("naive", {}, 0.2),
        ("parafka_app", {}, 0.2),
        ("parafka_app", {"virtual_partitions": 4}, 0.2),
    ],
)
def test_a_contender_process_reports_every_expected_message(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    contender: str,
    options: dict[str, object],
    cost_ms: float,
) -> None:
    topic = new_topic(partitions=3)
    produce_messages(
        kafka_bootstrap, topic, ((f"k{i % 7}".encode(), b"x" * 100, i % 3) for i in range(300))
    )
    spec = Spec(
        contender=contender,
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=unique_name("bench"),
        partitions=3,
        concurrency=3,
        expected={0: 100, 1: 100, 2: 100},
        cost_ms=cost_ms,
        timeout_s=60.0,
        options=options,
    )
    outcome = run_contender(spec, "test")
    assert outcome.error is None
    assert outcome.finished
    assert outcome.processed >= 300
    assert {p: int(v["count"]) for p, v in outcome.partitions.items()} == {
        "0": 100,
        "1": 100,
        "2": 100,
    }
    assert outcome.throughput > 0
    assert outcome.cpu_seconds > 0
    assert 5 < outcome.peak_rss_mb < 2000


@pytest.mark.parametrize(
    ("contender", "processes"),
    [("parafka_app", 1), ("parafka_swarm", 4)],  # the swarm: contender, supervisor, 2 nodes
)
def test_a_cpu_contender_keeps_each_partitions_order_and_commits_to_the_end(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    contender: str,
    processes: int,
) -> None:
    topic = new_topic(partitions=3)
    produce_messages(
        kafka_bootstrap,
        topic,
        ((None, sequenced_value(p, place, 100), p) for place in range(100) for p in range(3)),
    )
    spec = Spec(
        contender=contender,
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=unique_name("bench"),
        partitions=3,
        concurrency=2,
        expected={0: 100, 1: 100, 2: 100},
        cpu_iterations=200,
        check_order=True,
        timeout_s=60.0,
        options={"processes": 2},
    )
    outcome = run_contender(spec, "test")
    assert outcome.error is None
    assert outcome.finished
    assert {p: int(v["count"]) for p, v in outcome.partitions.items()} == {
        "0": 100,
        "1": 100,
        "2": 100,
    }
    assert outcome.order_violations == 0
    assert outcome.processes == processes
    assert outcome.cpu_seconds > 0
    assert committed_offsets(kafka_bootstrap, spec.group, topic, 3) == {0: 100, 1: 100, 2: 100}


def test_the_sleep_pool_needs_no_broker_and_the_reports_show_each_entry(tmp_path: Path) -> None:
    spec = Spec(
        contender="sleep_pool",
        bootstrap="127.0.0.1:1",
        topic="none",
        group="none",
        partitions=2,
        concurrency=4,
        expected={0: 40, 1: 40},
        cost_ms=1.0,
        timeout_s=60.0,
    )
    outcome = run_contender(spec, "test")
    assert outcome.finished
    assert outcome.processed == 80
    entries = [
        Entry("io", 4, "sleep-only pool", "sleep_pool", outcome, 80, ideal=4000.0, efficiency=0.5),
        Entry("io", 1, "sleep-only pool", "sleep_pool", outcome, 80, ideal=1000.0, efficiency=0.9),
    ]
    table = text("io", entries)
    assert "sleep-only pool" in table
    assert "0.500" in table
    assert "| sleep-only pool | 4 |" in markdown("io", entries)
    image = plot("io", entries, tmp_path)
    assert image is not None
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
