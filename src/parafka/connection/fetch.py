"""Fetching: one poll of the client with a short linger, and a fetch split per partition.

Listener thread only: :func:`poll_batch` and :func:`high_watermark` call the client, which
only the listener thread touches (rebalance, statistics and commit callbacks run inside
``poll()``, on that thread). :func:`split` is pure: it does no I/O and keeps no state.
"""

from __future__ import annotations

from collections.abc import Callable

import confluent_kafka
from confluent_kafka import KafkaException, TopicPartition

__all__ = ["LINGER", "Key", "high_watermark", "poll_batch", "split"]

#: A partition: (topic, partition).
Key = tuple[str, int]

#: Seconds a poll that found a message waits for more before handing them out while every
#: worker is busy (a latency of at most this much, for fewer listener turns on a slow
#: stream). Measured with ``python -m bench --only latency`` (10 partitions, 1 ms per message,
#: half of capacity, two runs each): 5 ms gave p50 7.7-12.3 ms at 76-87 us of CPU per message;
#: 0 gave p50 3.0-6.4 ms at 118-147 us (a listener turn per message or two); 1 ms gave p50
#: 3.6-5.1 ms, p99 8-17 ms, at 94-115 us.
LINGER = 0.001


def poll_batch(
    client: confluent_kafka.Consumer,
    timeout: float,
    limit: int,
    busy: Callable[[], bool] | None = None,
) -> list[confluent_kafka.Message]:
    """Wait up to ``timeout`` for the first message, then take whatever else is ready, up to
    ``limit`` messages in all. Raises what the client raises (``KafkaException``).

    Not ``consume(n, timeout)`` alone: it waits the whole timeout unless ``n`` messages
    arrive, which on a live stream delays every message by up to ``fetch_timeout``.
    ``poll()`` returns with the first one; ``consume(n - 1, LINGER)`` adds what is ready
    or arrives within :data:`LINGER`, so a trickle costs one turn per millisecond
    rather than one per message, and a busy stream still comes in large batches.

    ``busy``: whether the workers are all busy now (None: assume they are). Only then does
    the poll linger: a message would wait for a worker anyway. With a worker free, it takes
    only what is ready: lingering would delay work that could start at once (the latency
    workload's p50 3.3 -> 2.4 ms, p99 7.1 -> 5.8 ms in a probe at half capacity).
    """
    first = client.poll(timeout)
    if first is None:
        return []
    linger = LINGER if busy is None or busy() else 0.0
    return [first, *client.consume(limit - 1, linger)]


def high_watermark(client: confluent_kafka.Consumer, key: Key) -> int | None:
    """librdkafka's cached end offset of the partition (no request to the broker)."""
    try:
        _low, high = client.get_watermark_offsets(TopicPartition(*key), cached=True)
    except KafkaException:
        return None
    return high if high >= 0 else None


def split(
    messages: list[confluent_kafka.Message], single_topic: str | None
) -> tuple[dict[Key, list[confluent_kafka.Message]], list[confluent_kafka.Message]]:
    """Group a fetch by partition, keeping offset order; error messages apart.

    The hot path (one ``consume()`` result holds hundreds of messages): librdkafka returns each
    partition's messages in runs, so this only looks for run boundaries and slices. With a
    single subscribed topic, the topic is not asked per message.
    """
    batches: dict[Key, list[confluent_kafka.Message]] = {}
    errors: list[confluent_kafka.Message] = []
    start = 0
    topic = single_topic or ""
    partition: int | None = None  # the current run's partition; None: no run open
    for index, message in enumerate(messages):
        if message.error() is not None:
            if partition is not None:
                _add(batches, (topic, partition), messages[start:index])
            errors.append(message)
            start, partition = index + 1, None
            continue
        this_partition = message.partition()
        this_topic = single_topic or message.topic() or ""
        if this_partition != partition or this_topic != topic:
            if partition is not None:
                _add(batches, (topic, partition), messages[start:index])
            start, partition, topic = index, this_partition or 0, this_topic
    if partition is not None:
        _add(batches, (topic, partition), messages[start:])
    return batches, errors


def _add(
    batches: dict[Key, list[confluent_kafka.Message]],
    key: Key,
    run: list[confluent_kafka.Message],
) -> None:
    existing = batches.get(key)
    if existing is None:
        batches[key] = run
    else:
        existing.extend(run)
