"""Messages produced to the real broker come back, per partition in offset order."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from parafka.testing import end_offsets, produce_messages

pytestmark = pytest.mark.integration


def test_broker_answers_metadata(kafka_bootstrap: str) -> None:
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(metadata.brokers) == 1


def test_topic_is_created_with_its_partitions(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic, timeout=10)
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2]
    assert end_offsets(kafka_bootstrap, topic) == {0: 0, 1: 0, 2: 0}


def test_messages_round_trip_in_offset_order(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=3)
    sent = [(f"k{i}".encode(), f"v{i}".encode(), i % 3) for i in range(300)]
    assert produce_messages(kafka_bootstrap, topic, sent) == 300
    assert end_offsets(kafka_bootstrap, topic) == {0: 100, 1: 100, 2: 100}

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name("group"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    received: dict[int, list[tuple[int, bytes | None]]] = defaultdict(list)
    deadline = time.monotonic() + 60
    try:
        while sum(map(len, received.values())) < 300 and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.5):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                received[partition].append((offset, message.value()))
    finally:
        consumer.close()

    for partition in range(3):
        offsets = [offset for offset, _ in received[partition]]
        assert offsets == list(range(100)), f"partition {partition} out of order or incomplete"
        expected = [f"v{i}".encode() for i in range(partition, 300, 3)]
        assert [value for _, value in received[partition]] == expected
