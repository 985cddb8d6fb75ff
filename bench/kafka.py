"""Broker-side set-up for the benchmarks: topics, bulk produce, unique names.

Everything here runs on the main thread before a workload starts, never while one is timed.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer

from bench.contenders.common import sequenced_value
from parafka.testing import create_topic, end_offsets

__all__ = [
    "fill_keyed_topic",
    "fill_sequenced_topic",
    "fill_topic",
    "unique",
    "warm_up_broker",
]

#: librdkafka's own log lines go here instead of stderr.
_LOG = logging.getLogger("bench.kafka")
_LOG.addHandler(logging.NullHandler())


def unique(base: str) -> str:
    """A topic or group name no earlier run used."""
    return f"bench-{base}-{uuid.uuid4().hex[:8]}"


def _producer(bootstrap: str, ordered: bool = False) -> Producer:
    """The bulk producer. ``ordered``: idempotent, so each partition stores the messages in the
    order they were produced. Without it a batch that is retried (a fresh topic's leader is not
    always ready for the first requests) can land behind later ones: seen in 2 of 8 fills of a
    20-partition topic, where up to 7,730 of 100,000 messages were out of their produced order."""
    settings: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "acks": "all" if ordered else 1,
        "logger": _LOG,
    }
    if ordered:
        settings["enable.idempotence"] = True
    return Producer(settings)


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


def fill_sequenced_topic(
    bootstrap: str, base: str, partitions: int, messages: int, keys: int, value_size: int
) -> tuple[str, float]:
    """Like :func:`fill_topic`, for the per-key order check: message ``i`` has key number
    ``k = i % keys`` (Kafka key ``f"k{k}"``), goes to partition ``k % partitions`` and its value
    is ``sequenced_value(k, i // keys, value_size)``, so each key's messages are numbered 0, 1,
    2, ... in the order they were produced (an idempotent producer keeps that order on the
    broker), and every partition holds ``keys / partitions`` keys (when ``partitions`` divides
    ``keys``)."""
    topic = unique(base)
    create_topic(bootstrap, topic, partitions)
    producer = _producer(bootstrap, ordered=True)
    names = [f"k{k}".encode() for k in range(keys)]
    began = time.monotonic()
    produce = producer.produce
    for index in range(messages):
        key = index % keys
        value = sequenced_value(key, index // keys, value_size)
        while True:
            try:
                produce(topic, value, names[key], partition=key % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    return topic, _finish(bootstrap, producer, topic, messages) - began


def warm_up_broker(bootstrap: str) -> None:
    """Make a fresh broker create its internal topics before anything is timed.

    The first idempotent producer makes the broker create ``__transaction_state`` and the first
    group commit ``__consumer_offsets`` (50 partitions each); on two cores that slows every
    request for several seconds, which would land in whichever run came first (measured: a
    live-stream p50 latency of 1.3 s instead of 16 ms).
    """
    topic = unique("warm-up")
    create_topic(bootstrap, topic, 1)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "logger": _LOG}
    )
    producer.produce(topic, b"warm-up")
    if producer.flush(120.0):
        raise KafkaException("the warm-up message was not delivered within 120 s")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("warm-up"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "logger": _LOG,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 120.0
        while (message := consumer.poll(0.5)) is None or message.error() is not None:
            if time.monotonic() > deadline:
                raise KafkaException("the warm-up message was not consumed within 120 s")
        consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
