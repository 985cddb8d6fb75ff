"""Helpers for tests and demos that talk to a real broker (topics, producing, end offsets)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

__all__ = ["create_topic", "end_offsets", "produce_messages"]

#: librdkafka's own log lines go here instead of stderr.
_LOG = logging.getLogger("parafka.testing")
_LOG.addHandler(logging.NullHandler())


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
    """Create ``name`` with ``partitions`` partitions and wait until its leaders are known."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG}
    admin = AdminClient(config)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    futures[name].result(timeout=timeout)
    # The controller has created it; wait until the broker's metadata shows every partition.
    deadline = time.monotonic() + timeout
    while True:
        topic = admin.list_topics(topic=name, timeout=timeout).topics[name]
        if topic.error is None and len(topic.partitions) == partitions:
            return
        if time.monotonic() > deadline:
            raise KafkaException(topic.error or f"{name} has {len(topic.partitions)} partitions")
        time.sleep(0.05)


def produce_messages(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None, int | None]],
    timeout: float = 60.0,
) -> int:
    """Produce ``(key, value, partition)`` triples (partition None: by key) and wait for acks.

    Returns how many the broker acknowledged; raises if any delivery failed.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "enable.idempotence": True,
            "logger": _LOG,
        }
    )
    errors: list[str] = []
    count = 0

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value, partition in messages:
        while True:
            try:
                if partition is None:
                    producer.produce(topic, value=value, key=key, on_delivery=delivered)
                else:
                    producer.produce(
                        topic, value=value, key=key, partition=partition, on_delivery=delivered
                    )
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining or errors:
        raise KafkaException(f"{remaining} undelivered, errors: {errors[:5]}")
    return count


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """The high watermark of every partition of ``topic``."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "parafka-watermarks", "logger": _LOG}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        result = {}
        for partition in metadata.topics[topic].partitions:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            result[partition] = high
        return result
    finally:
        consumer.close()
