"""A subscriber that raises changes nothing; events arrive with their payloads."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_raising_subscriber_changes_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(300)))
    record = Record()
    calls: list[str] = []

    class Counting(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    def explode(event: parafka.Event) -> None:
        calls.append(event.name)
        raise RuntimeError(f"subscriber failure on {event.name}")

    app = parafka.App(kafka={"bootstrap.servers": kafka_bootstrap}, group_id=group)
    app.topic(topic, Counting)
    app.monitor.subscribe("*", explode)
    with running(app):
        wait_until(lambda: record.count() == 300, 60, "300 messages")
    assert record.offsets[0] == list(range(150))
    assert record.offsets[1] == list(range(150))
    assert committed(kafka_bootstrap, group, topic, 2) == end_offsets(kafka_bootstrap, topic)
    for name in ("rebalance.assigned", "worker.processed", "offsets.stored", "app.stopped"):
        assert name in calls


def test_processed_events_carry_the_batch(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(50)))
    events: list[parafka.Event] = []

    class Noop(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            pass

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap}, group_id=unique_name("g"), log_events=False
    )
    app.topic(topic, Noop)
    app.monitor.subscribe("worker.processed", events.append)
    with running(app):
        wait_until(lambda: sum(e["messages"] for e in events) == 50, 60, "50 messages")
    assert events[0]["topic"] == topic
    assert events[0]["first_offset"] == 0
    assert max(e["last_offset"] for e in events) == 49
