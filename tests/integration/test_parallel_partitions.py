"""Two partitions are processed in parallel, and a slow partition does not hold the others."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_two_partitions_run_at_the_same_time(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", p) for p in (0, 1)))
    # Each consume() waits at the barrier for the other partition's consume(): it only passes
    # if both run at once on two workers.
    barrier = threading.Barrier(2, timeout=30)
    met: list[int] = []

    class Meeting(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            barrier.wait()
            met.append(self.partition)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        concurrency=2,
        log_events=False,
    )
    app.topic(topic, Meeting)
    with running(app):
        wait_until(lambda: len(met) == 2, 40, "both partitions to meet at the barrier")
    assert sorted(met) == [0, 1]


def test_a_blocked_partition_does_not_stop_the_others(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=3)
    group = unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 3) for i in range(3000)))
    release = threading.Event()
    blocked = threading.Event()
    record = Record()
    paused: list[tuple[str, int]] = []

    class Stuck(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            if self.partition == 0:
                blocked.set()
                release.wait(60)
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=3,
        max_messages=10,
        max_backlog=50,
        log_events=False,
    )
    app.topic(topic, Stuck)
    app.monitor.subscribe("listener.paused", lambda e: paused.append((e["topic"], e["partition"])))
    with running(app):
        wait_until(blocked.is_set, 30, "partition 0 to block")
        # Partitions 1 and 2 finish all their 1,000 messages in many batches meanwhile.
        wait_until(
            lambda: len(record.offsets[1]) == 1000 and len(record.offsets[2]) == 1000,
            60,
            "partitions 1 and 2 to finish while partition 0 is blocked",
        )
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, 3)[1] == 1000, 30, "commit of p1"
        )
        assert (topic, 0) in paused, "the blocked partition's backlog filled and it was paused"
        assert committed(kafka_bootstrap, group, topic, 3)[0] < 0  # nothing of p0 finished
        release.set()
        wait_until(lambda: record.count() == 3000, 60, "all messages after release")
    assert record.offsets[0] == list(range(1000))
    assert committed(kafka_bootstrap, group, topic, 3) == end_offsets(kafka_bootstrap, topic)


def test_large_messages_pause_the_partition_at_max_backlog_bytes(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """300 messages of 50 KB are far below the count limit (2,000) but far above 1 MiB: the
    blocked partition is paused for its bytes, and nothing is lost or reordered after."""
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"v" * 50_000, 0) for _ in range(300)))
    blocked, release = threading.Event(), threading.Event()
    paused: list[tuple[str, int]] = []
    record = Record()

    class Stuck(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            blocked.set()
            release.wait(60)
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("group"),
        concurrency=2,
        max_messages=5,
        max_backlog_bytes=1_000_000,
        log_events=False,
    )
    app.topic(topic, Stuck)
    app.monitor.subscribe("listener.paused", lambda e: paused.append((e["topic"], e["partition"])))
    with running(app):
        wait_until(blocked.is_set, 30, "the first batch to block")
        wait_until(lambda: (topic, 0) in paused, 30, "the partition to be paused for its bytes")
        release.set()
        wait_until(lambda: record.count() == 300, 60, "all messages after release")
    assert record.offsets[0] == list(range(300))
