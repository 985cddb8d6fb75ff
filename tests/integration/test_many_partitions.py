"""A topic with 1,000 partitions is consumed completely, with no thread per partition."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_topic_with_1000_partitions_is_consumed_with_a_fixed_set_of_threads(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1000), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 1000) for i in range(3000)))
    record = Record()

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    before = {t.name for t in threading.enumerate()}
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=8,
        log_events=False,
    )
    app.topic(topic, Plain, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: record.count() == 3000, 120, "3,000 messages over 1,000 partitions")
        parafka_threads = {
            t.name for t in threading.enumerate() if t.name.startswith("parafka-")
        } - before
        # workers, one listener, the producer, the watchdog
        assert len(parafka_threads) == 8 + 1 + 1 + 1
    assert all(record.offsets[p] == [0, 1, 2] for p in range(1000))
    assert committed(kafka_bootstrap, group, topic, 1000) == end_offsets(kafka_bootstrap, topic)


def test_one_group_over_100_topics(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topics = [new_topic(partitions=1, base=f"t{i}") for i in range(100)]
    for topic in topics:
        produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(2)))
    lock = threading.Lock()
    seen: dict[str, int] = {}

    class Counting(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                seen[self.topic] = seen.get(self.topic, 0) + len(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        concurrency=4,
        log_events=False,
    )
    for topic in topics:
        app.topic(topic, Counting, deserializer=parafka.raw_deserializer)
    assert len(app.subscription_groups()) == 1  # one connection for all of them
    with running(app):
        wait_until(lambda: sum(seen.values()) == 200, 120, "2 messages from each of 100 topics")
    assert seen == dict.fromkeys(topics, 2)
