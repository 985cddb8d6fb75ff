"""Helpers for tests and demos that talk to a real broker (topics, producing, end offsets).

Reads of offsets (:func:`end_offsets`, :func:`committed_offsets`) retry transient broker
errors — a broker just restarted or resumed answers ``_UNKNOWN_PARTITION``, ``_TRANSPORT`` or
``LEADER_NOT_AVAILABLE`` until its metadata is ready — and raise :class:`OffsetsUnavailable`
once their time bound has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in the stubs
    AdminClient,
    NewTopic,
)

__all__ = [
    "OffsetsUnavailable",
    "committed_offsets",
    "create_topic",
    "end_offsets",
    "produce_messages",
    "retry_transient",
    "transient",
]

T = TypeVar("T")

#: Errors a broker answers while it starts, resumes or moves leadership: worth another try.
_TRANSIENT = frozenset(
    {
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError._IN_PROGRESS,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REPLICA_NOT_AVAILABLE,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.UNSTABLE_OFFSET_COMMIT,
        KafkaError.REBALANCE_IN_PROGRESS,
    }
)
_RETRY_PAUSE = 0.25


class OffsetsUnavailable(TimeoutError):
    """The broker kept answering transient errors until the read's time bound passed."""


#: librdkafka's own log lines go here instead of stderr.
_LOG = logging.getLogger("parafka.testing")
_LOG.addHandler(logging.NullHandler())


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    timeout: float = 30.0,
    config: Mapping[str, str] | None = None,
) -> None:
    """Create ``name`` with ``partitions`` partitions (and the topic ``config``, e.g.
    ``{"cleanup.policy": "compact"}``) and wait until its leaders are known."""
    client: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG}
    admin = AdminClient(client)
    futures = admin.create_topics(
        [
            NewTopic(
                name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
            )
        ],
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


def transient(error: KafkaError | KafkaException) -> bool:
    """True for errors that a broker that is starting, resuming or electing answers for a
    while (worth retrying), False for the others."""
    if isinstance(error, KafkaException):
        if not error.args or not isinstance(error.args[0], KafkaError):
            return False
        error = error.args[0]
    return error.code() in _TRANSIENT or bool(error.retriable())


def retry_transient(call: Callable[[], T], *, what: str, timeout: float) -> T:
    """Return ``call()``, calling it again while it raises a :func:`transient` error, for at
    most ``timeout`` seconds; then raise :class:`OffsetsUnavailable` naming ``what`` and the
    last error. Other errors are raised at once."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return call()
        except KafkaException as exc:
            if not transient(exc):
                raise
            if time.monotonic() + _RETRY_PAUSE > deadline:
                raise OffsetsUnavailable(
                    f"{what}: the broker still answered a transient error after {timeout:g} s"
                    f" ({attempts} attempts): {exc.args[0]}"
                ) from exc
            _LOG.info("%s: %s, retrying", what, exc.args[0])
            time.sleep(_RETRY_PAUSE)


def _raise_partition_errors(partitions: Iterable[TopicPartition]) -> None:
    for tp in partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)


def end_offsets(bootstrap: str, topic: str, timeout: float = 30.0) -> dict[int, int]:
    """The high watermark of every partition of ``topic`` (with ``isolation.level`` at its
    default, read_committed, the last stable offset: equal once no transaction is open).

    Transient errors are retried for up to ``timeout`` seconds in all (see the module)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "parafka-watermarks", "logger": _LOG}
    )
    deadline = time.monotonic() + timeout

    def request_timeout() -> float:
        return max(0.5, min(5.0, deadline - time.monotonic()))

    def read() -> dict[int, int]:
        metadata = consumer.list_topics(topic, timeout=request_timeout())
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            error = found.error if found is not None and found.error is not None else None
            raise KafkaException(error or KafkaError(KafkaError._UNKNOWN_TOPIC, topic))
        result = {}
        for partition in sorted(found.partitions):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=request_timeout()
            )
            result[partition] = int(high)
        return result

    try:
        return retry_transient(read, what=f"end offsets of {topic}", timeout=timeout)
    finally:
        consumer.close()


def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: int, timeout: float = 30.0
) -> dict[int, int]:
    """The committed offset of ``group`` on partitions ``0 .. partitions-1`` of ``topic``
    (negative when none), transient errors retried for up to ``timeout`` seconds in all."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": _LOG})
    deadline = time.monotonic() + timeout

    def read() -> dict[int, int]:
        left = max(0.5, min(10.0, deadline - time.monotonic()))
        result = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=left
        )
        _raise_partition_errors(result)
        return {tp.partition: tp.offset for tp in result}

    try:
        return retry_transient(read, what=f"offsets of {group} on {topic}", timeout=timeout)
    finally:
        consumer.close()
