"""Without virtual partitions each partition's messages arrive in offset order, once each,
one batch at a time, even with more workers than partitions."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import Record, running, wait_until

pytestmark = pytest.mark.integration


def test_order_is_kept_per_partition_with_more_workers_than_partitions(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=3)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 3) for i in range(900)))
    record = Record()

    class Ordered(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        concurrency=8,
        max_messages=7,
        log_events=False,
    )
    app.topic(topic, Ordered)
    with running(app):
        wait_until(lambda: record.count() >= 900, 60, "900 messages")
    for partition in range(3):
        assert record.offsets[partition] == list(range(300)), f"partition {partition}"
    assert all(size <= 7 for _, size, _ in record.batches)
    workers = {thread for _, _, thread in record.batches}
    assert all(name.startswith("parafka-worker-") for name in workers), workers
    assert len(workers) > 1


def test_a_partition_never_has_two_batches_in_flight(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(400)))
    lock = threading.Lock()
    inside: dict[int, int] = {0: 0, 1: 0}
    overlaps: list[int] = []
    instances: dict[int, set[int]] = {0: set(), 1: set()}
    done = Record()

    class Exclusive(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                inside[self.partition] += 1
                if inside[self.partition] > 1:
                    overlaps.append(self.partition)
                instances[self.partition].add(id(self))
            # Give another worker every chance to enter the same partition meanwhile.
            threading.Event().wait(0.002)
            with lock:
                inside[self.partition] -= 1
            done.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        concurrency=6,
        max_messages=5,
        log_events=False,
    )
    app.topic(topic, Exclusive)
    with running(app):
        wait_until(lambda: done.count() >= 400, 60, "400 messages")
    assert overlaps == []
    assert all(len(ids) == 1 for ids in instances.values()), "one consumer per partition"
    assert len(done.batches) >= 40  # many batches really went through the pool
