"""Virtual partitions against the real broker: one Kafka partition processed by many lanes,
ordered per key, offsets never committed past unfinished work, progress kept across restarts."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import parafka
from parafka.processing.progress import decode
from parafka.testing import produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


class Log:
    """(offset, key, instance id, worker thread) per processed message, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[int, bytes | None, int, str]] = []

    def add(self, consumer: parafka.Consumer, message: parafka.Message) -> None:
        with self.lock:
            self.entries.append(
                (message.offset, message.key, id(consumer), threading.current_thread().name)
            )

    def offsets(self) -> list[int]:
        with self.lock:
            return [entry[0] for entry in self.entries]

    def by_key(self) -> dict[bytes | None, list[int]]:
        result: dict[bytes | None, list[int]] = defaultdict(list)
        with self.lock:
            for offset, key, _, _ in self.entries:
                result[key].append(offset)
        return result


def app_for(
    bootstrap: str,
    group: str,
    topic: str,
    consumer: type[parafka.Consumer],
    vp: parafka.VirtualPartitions,
    **settings: Any,
) -> parafka.App:
    app = parafka.App(
        kafka={"bootstrap.servers": bootstrap, "auto.commit.interval.ms": 200},
        group_id=group,
        log_events=False,
        **settings,
    )
    app.topic(topic, consumer, virtual_partitions=vp, deserializer=parafka.raw_deserializer)
    return app


def committed_point(bootstrap: str, group: str, topic: str) -> tuple[int, str | None]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return tp.offset, tp.metadata
    finally:
        consumer.close()


def test_per_key_order_over_one_partition_with_1000_keys_and_8_lanes(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(
        kafka_bootstrap, topic, ((f"k{i % 1000}".encode(), b"v", 0) for i in range(5000))
    )
    log = Log()

    class Keyed(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                log.add(self, message)
            threading.Event().wait(0.001)  # some IO, so lanes overlap

    vp = parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=8)
    app = app_for(kafka_bootstrap, group, topic, Keyed, vp, concurrency=8, max_messages=20)
    with running(app):
        wait_until(lambda: len(log.offsets()) >= 5000, 90, "5000 messages")
    keys = log.by_key()
    assert len(keys) == 1000
    for key, offsets in keys.items():
        assert offsets == sorted(offsets), f"{key!r} out of order"
        assert len(offsets) == 5
    assert sorted(log.offsets()) == list(range(5000))
    with log.lock:
        instances = {entry[2] for entry in log.entries}
        workers = {entry[3] for entry in log.entries}
    assert len(instances) == 8  # one consumer instance per lane
    assert len(workers) > 1  # lanes of one partition really ran on several workers
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 5000}


def test_a_slow_key_holds_the_commit_point_while_other_keys_run_ahead(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    keys = [b"slow" if i == 10 else f"k{i % 7}".encode() for i in range(200)]
    produce_messages(kafka_bootstrap, topic, ((key, b"v", 0) for key in keys))
    release = threading.Event()
    log = Log()

    class Slow(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.key == b"slow":
                    release.wait(60)
                log.add(self, message)

    vp = parafka.VirtualPartitions(
        partitioner=lambda m: m.key, max_partitions=8, reducer=lambda k: 0 if k == b"slow" else 1
    )
    app = app_for(kafka_bootstrap, group, topic, Slow, vp, concurrency=4)
    with running(app):
        wait_until(lambda: len(log.offsets()) == 199, 60, "every message but the slow one")
        # Stored and auto-committed while offset 10 is still running: exactly 10, never past it.
        wait_until(
            lambda: committed_point(kafka_bootstrap, group, topic)[0] == 10, 30, "commit at 10"
        )
        offset, metadata = committed_point(kafka_bootstrap, group, topic)
        assert decode(offset, metadata).finished == [(11, 199)]  # everything above it is finished
        release.set()
        wait_until(lambda: len(log.offsets()) == 200, 30, "the slow message")
    assert committed_point(kafka_bootstrap, group, topic)[0] == 200


def test_a_restart_does_not_redo_what_finished_above_the_commit_point(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    keys = [b"stuck" if i == 5 else f"k{i % 5}".encode() for i in range(100)]
    produce_messages(kafka_bootstrap, topic, ((key, b"v", 0) for key in keys))
    never = threading.Event()
    first = Log()

    class Stuck(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.key == b"stuck":
                    never.wait(120)
                    return
                first.add(self, message)

    vp = parafka.VirtualPartitions(
        partitioner=lambda m: m.key, max_partitions=4, reducer=lambda k: 0 if k == b"stuck" else 1
    )
    app = app_for(kafka_bootstrap, group, topic, Stuck, vp, shutdown_timeout=2.0)
    app.start()
    try:
        wait_until(lambda: len(first.offsets()) == 99, 60, "all but the stuck message")
    finally:
        clean = app.stop()
        never.set()  # let the abandoned worker finish; its result is ignored
    assert not clean
    assert committed_point(kafka_bootstrap, group, topic)[0] == 5

    second = Log()

    class Recorder(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                second.add(self, message)

    app = app_for(kafka_bootstrap, group, topic, Recorder, vp)
    with running(app):
        wait_until(lambda: second.offsets() == [5], 60, "the unfinished message again")
        produce_messages(kafka_bootstrap, topic, ((b"k1", b"new", 0) for _ in range(1)))
        wait_until(lambda: len(second.offsets()) == 2, 30, "a new message")
    assert second.offsets() == [5, 100]  # nothing finished before the restart ran twice
    assert committed_point(kafka_bootstrap, group, topic)[0] == 101


def test_a_raising_partitioner_keeps_processing_in_order(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    keys: list[bytes | None] = [b"bad" if i == 30 else f"k{i % 4}".encode() for i in range(100)]
    produce_messages(kafka_bootstrap, topic, ((key, b"v", 0) for key in keys))
    log = Log()
    errors: list[parafka.Event] = []

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                log.add(self, message)

    def partitioner(message: parafka.Message) -> bytes | None:
        if message.key == b"bad":
            raise ValueError("cannot route this one")
        return message.key

    vp = parafka.VirtualPartitions(partitioner=partitioner, max_partitions=4)
    app = app_for(kafka_bootstrap, group, topic, Plain, vp)
    app.monitor.subscribe("error.occurred", errors.append)
    with running(app):
        wait_until(lambda: len(log.offsets()) == 100, 60, "100 messages")
    assert sorted(log.offsets()) == list(range(100))
    for key, offsets in log.by_key().items():
        assert offsets == sorted(offsets), key
    assert [e["type"] for e in errors] == ["virtual_partitions.partitioner"] * len(errors)
    assert errors
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 100}


def test_none_keys_share_one_lane_in_order(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"v", 0) for _ in range(50)))
    log = Log()

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                log.add(self, message)

    vp = parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=4)
    with running(app_for(kafka_bootstrap, group, topic, Plain, vp)):
        wait_until(lambda: len(log.offsets()) == 50, 60, "50 messages")
    assert log.offsets() == list(range(50))
    with log.lock:
        assert len({entry[2] for entry in log.entries}) == 1


@pytest.mark.parametrize("distribution", ["consistent", "balanced"])
def test_distributions_keep_key_order_and_spread_the_work(
    distribution: str,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(
        kafka_bootstrap, topic, ((f"k{i % 40}".encode(), b"v", 0) for i in range(2000))
    )
    log = Log()

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                log.add(self, message)
            threading.Event().wait(0.001)

    vp = parafka.VirtualPartitions(
        partitioner=lambda m: m.key,
        max_partitions=4,
        distribution=distribution,  # type: ignore[arg-type]
    )
    app = app_for(kafka_bootstrap, group, topic, Plain, vp, concurrency=4, max_messages=25)
    with running(app):
        wait_until(lambda: len(log.offsets()) == 2000, 60, "2000 messages")
    for key, offsets in log.by_key().items():
        assert offsets == sorted(offsets), key
    with log.lock:
        per_key_instances: dict[bytes | None, set[int]] = defaultdict(set)
        for _, key, instance, _ in log.entries:
            per_key_instances[key].add(instance)
        lanes_used = {instance for _, _, instance, _ in log.entries}
    assert len(lanes_used) == 4
    if distribution == "consistent":
        assert all(len(instances) == 1 for instances in per_key_instances.values())
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 2000}
