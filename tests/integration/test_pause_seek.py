"""Flow control from a consumer: pause(offset, timeout), resume(), seek(offset)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def test_pause_resumes_at_the_requested_offset_while_other_partitions_flow(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(40)))
    lock = threading.Lock()
    seen: dict[int, list[tuple[int, float]]] = {0: [], 1: []}
    paused = threading.Event()

    class Pausing(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if self.partition == 0 and message.offset == 5 and not paused.is_set():
                    paused.set()
                    assert self.pause(5, timeout=1.0)
                    return  # 5.. are not marked: they come again after the pause
                with lock:
                    seen[self.partition].append((message.offset, time.monotonic()))

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=2,
        max_messages=4,
        log_events=False,
    )
    app.topic(topic, Pausing, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: len(seen[0]) == 20 and len(seen[1]) == 20, 60, "both partitions")
    paused_at = next(t for o, t in seen[0] if o == 4)
    resumed_at = next(t for o, t in seen[0] if o == 5)
    assert [o for o, _ in seen[0]] == list(range(20))  # nothing skipped, nothing twice
    assert resumed_at - paused_at >= 1.0  # the pause lasted its timeout (a lower bound)
    assert max(t for _, t in seen[1]) < resumed_at  # partition 1 finished meanwhile
    assert committed(kafka_bootstrap, group, topic, 2) == end_offsets(kafka_bootstrap, topic)


def test_resume_ends_a_pause_early_and_seek_goes_back(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(12)))
    lock = threading.Lock()
    order: list[int] = []
    state = {"paused": False, "sought": False}

    class Moving(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 4 and not state["paused"]:
                    state["paused"] = True
                    self.pause(4, timeout=3600)  # an hour: only resume() can end it
                    self.resume()
                    return
                if message.offset == 9 and not state["sought"]:
                    state["sought"] = True
                    self.seek(2)  # go back and process 2.. again
                    return
                with lock:
                    order.append(message.offset)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=3,
        log_events=False,
    )
    app.topic(topic, Moving, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: order[-1:] == [11], 60, "the end of the partition")
    assert order == [0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 12}


def test_a_pause_does_not_survive_revocation_and_reassignment(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(6)))
    lock = threading.Lock()
    order: list[int] = []
    paused = threading.Event()

    class Pauser(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 2 and not paused.is_set():
                    paused.set()
                    self.pause(2, timeout=3600)  # an hour
                    return
                with lock:
                    order.append(message.offset)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "partition.assignment.strategy": "range"},
        group_id=group,
        max_messages=1,
        log_events=False,
    )
    app.topic(topic, Pauser, deserializer=parafka.raw_deserializer)
    revoked = threading.Event()
    app.monitor.subscribe("rebalance.revoked", lambda _e: revoked.set())
    with running(app):
        wait_until(paused.is_set, 60, "the pause")
        # Another member joins (eager: everything is revoked) and leaves again: the partition
        # comes back, and the hour-long pause is gone with the old assignment.
        # It pauses what it gets and commits nothing, so it takes no message away.
        thief = Consumer(
            {"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False}
        )

        def hold(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            consumer.assign(partitions)
            consumer.pause(partitions)

        thief.subscribe([topic], on_assign=hold)
        deadline = time.monotonic() + 60
        while not revoked.is_set() and time.monotonic() < deadline:
            thief.consume(1, 0.2)
        thief.close()
        wait_until(lambda: order[-1:] == [5], 60, "processing to go on after re-assignment")
    assert order[:2] == [0, 1]
    assert order[2:] == [2, 3, 4, 5]  # from the committed offset, without the hour's wait
