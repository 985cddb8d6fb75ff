"""Broker-side set-up for the benchmarks: topics, bulk produce, unique names.

Everything here runs on the main thread before a workload starts, never while one is timed.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import KafkaException, Producer

from parafka.testing import create_topic, end_offsets

__all__ = ["fill_keyed_topic", "fill_topic", "unique"]

#: librdkafka's own log lines go here instead of stderr.
_LOG = logging.getLogger("bench.kafka")
_LOG.addHandler(logging.NullHandler())


def unique(base: str) -> str:
    """A topic or group name no earlier run used."""
    return f"bench-{base}-{uuid.uuid4().hex[:8]}"


def _producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "acks": 1,
            "logger": _LOG,
        }
    )


def _finish(bootstrap: str, producer: Producer, topic: str, messages: int) -> float:
    """Flush, then check through the watermarks that the topic holds exactly ``messages``.

    Returns when the flush ended (monotonic), so that the check is not counted as producing.
    """
    remaining = producer.flush(120.0)
    flushed = time.monotonic()
    if remaining:
        raise KafkaException(f"{remaining} messages to {topic} were not delivered within 120 s")
    stored = sum(end_offsets(bootstrap, topic).values())
    if stored != messages:
        raise KafkaException(f"{topic} holds {stored} messages, {messages} were produced")
    return flushed


def fill_topic(
    bootstrap: str, base: str, partitions: int, messages: int, value_size: int = 16
) -> tuple[str, float]:
    """Create a fresh topic and produce ``messages`` values of ``value_size`` bytes to it.

    Messages go round-robin to the partitions, so each holds ``messages // partitions`` (the
    first ones one more when it does not divide). No per-message delivery callback: the
    watermarks are checked afterwards instead, so the topic holds exactly ``messages``.
    Returns the topic name and the seconds spent producing.
    """
    topic = unique(base)
    create_topic(bootstrap, topic, partitions)
    producer = _producer(bootstrap)
    value = b"x" * value_size
    began = time.monotonic()
    produce = producer.produce
    for index in range(messages):
        while True:
            try:
                produce(topic, value, partition=index % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    return topic, _finish(bootstrap, producer, topic, messages) - began


def fill_keyed_topic(
    bootstrap: str, base: str, messages: int, keys: int, value_size: int = 16
) -> tuple[str, float]:
    """Like :func:`fill_topic` for a fresh one-partition topic, message ``i`` keyed
    ``f"k{i % keys}"`` (so the keys repeat in a fixed cycle), all to partition 0."""
    topic = unique(base)
    create_topic(bootstrap, topic, 1)
    producer = _producer(bootstrap)
    value = b"x" * value_size
    names = [f"k{i}".encode() for i in range(keys)]
    began = time.monotonic()
    produce = producer.produce
    for index in range(messages):
        while True:
            try:
                produce(topic, value, names[index % keys], partition=0)
                break
            except BufferError:
                producer.poll(0.05)
    return topic, _finish(bootstrap, producer, topic, messages) - began
