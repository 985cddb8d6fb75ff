"""The consumer API around consume(): producing, eofed(), synchronous marking, scaling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_consumer_produces_with_the_apps_producer(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, audit = new_topic(partitions=2), new_topic(partitions=1, base="audit")
    produce_messages(kafka_bootstrap, topic, ((None, b"%d" % i, i % 2) for i in range(20)))
    record = Record()

    class Auditing(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                self.produce(audit, value=b"seen " + (message.value or b""), key=b"k")
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap}, group_id=unique_name("g"), log_events=False
    )
    app.topic(topic, Auditing, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: record.count() == 20, 60, "20 messages")
        # produce() returned only after the broker's ack: all 20 are there already.
        assert end_offsets(kafka_bootstrap, audit) == {0: 20}


def test_eofed_runs_on_an_empty_partition_and_after_the_last_message(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    lock = threading.Lock()
    calls: list[tuple[str, int, int]] = []  # (what, partition, offset or -1)

    class Ends(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                calls.extend(("consume", self.partition, m.offset) for m in messages)

        def eofed(self) -> None:
            with lock:
                calls.append(("eofed", self.partition, -1))

    def eofs() -> list[int]:
        with lock:
            return sorted(p for what, p, _ in calls if what == "eofed")

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "enable.partition.eof": True},
        group_id=unique_name("g"),
        log_events=False,
    )
    app.topic(topic, Ends, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: eofs() == [0, 1], 60, "eofed() on both empty partitions")
        produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(5)))
        wait_until(lambda: eofs() == [0, 0, 1], 60, "eofed() again after the new messages")
    with lock:
        partition0 = [(what, offset) for what, p, offset in calls if p == 0]
    assert partition0 == [("eofed", -1)] + [("consume", i) for i in range(5)] + [("eofed", -1)]


def test_mark_as_consumed_sync_commits_before_returning(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(10)))
    seen_committed: list[int] = []
    answers: list[bool] = []

    class Careful(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 3:
                    answers.append(self.mark_as_consumed_sync(message))
                    seen_committed.append(committed(kafka_bootstrap, group, topic, 1)[0])

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "auto.commit.interval.ms": 60_000},
        group_id=group,
        log_events=False,
    )
    app.topic(topic, Careful, manual_offset_management=True, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: len(seen_committed) == 1, 60, "the synchronous mark")
    assert answers == [True]
    assert seen_committed == [4]  # committed at the broker before mark_as_consumed_sync returned


def test_the_worker_pool_grows_and_shrinks_while_processing_and_loses_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=4), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"{}", i % 4) for i in range(400)))
    scaled: list[parafka.Event] = []
    record = Record()

    class Slowish(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            threading.Event().wait(0.002 * len(messages))
            record.add(messages)

    def workers() -> int:
        return sum(t.name.startswith("parafka-worker-") for t in threading.enumerate())

    before = workers()
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=2,
        max_messages=5,
        log_events=False,
    )
    app.topic(topic, Slowish)
    app.monitor.subscribe("workers.scaled", scaled.append)
    with running(app):
        wait_until(lambda: record.count() >= 50, 60, "processing on 2 workers")
        app.workers.scale(6)
        wait_until(lambda: workers() == before + 6, 10, "6 workers")
        wait_until(lambda: record.count() >= 200, 60, "processing on 6 workers")
        app.workers.scale(1)
        wait_until(lambda: workers() == before + 1, 30, "1 worker")
        with pytest.raises(parafka.ConfigurationError, match="integer >= 1"):
            app.workers.scale(0)
        wait_until(lambda: record.count() == 400, 60, "the rest on 1 worker")
    assert [(e["size"], e["change"]) for e in scaled] == [(6, 4), (1, -5)]
    for partition in range(4):
        assert record.offsets[partition] == list(range(100)), "nothing lost or repeated"
    assert committed(kafka_bootstrap, group, topic, 4) == end_offsets(kafka_bootstrap, topic)
    deadline = time.monotonic() + 10
    while workers() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers() == before


def test_mark_as_consumed_returns_false_once_the_partition_is_gone(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(2)))
    inside = threading.Event()
    revoked = threading.Event()
    answers: list[bool] = []

    class Late(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            inside.set()
            revoked.wait(60)
            answers.append(self.mark_as_consumed(messages[-1]))

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        log_events=False,
    )
    app.topic(topic, Late, manual_offset_management=True, deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("rebalance.revoked", lambda _e: revoked.set())
    app.start()
    try:
        wait_until(inside.is_set, 60, "the batch to start")
        # Another member takes the partition away (eager assignment revokes everything).
        thief = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
        thief.subscribe([topic])
        deadline = time.monotonic() + 60
        while not revoked.is_set() and time.monotonic() < deadline:
            thief.consume(1, 0.2)
        wait_until(lambda: len(answers) >= 1, 30, "mark_as_consumed() to answer")
        thief.close()
    finally:
        app.stop()
    # The batch that was running when the partition went away could not mark. (If the
    # partition came back to this member, a new instance consumed it again and could.)
    assert answers[0] is False


def test_a_batch_knows_its_offsets_high_watermark_and_lag(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(100)))
    seen: list[parafka.BatchMetadata] = []

    class Observing(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            seen.append(messages.metadata)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        max_messages=10,
        log_events=False,
    )
    app.topic(topic, Observing, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: sum(m.size for m in seen) == 100, 60, "100 messages")
    assert [(m.first_offset, m.last_offset, m.size) for m in seen] == [
        (i, i + 9, 10) for i in range(0, 100, 10)
    ]
    assert all(m.topic == topic and m.partition == 0 for m in seen)
    assert all(m.high_watermark == 100 for m in seen)
    assert [m.lag for m in seen] == [100 - m.last_offset - 1 for m in seen]
    assert seen[-1].lag == 0
    assert all(m.processing_lag is not None and m.processing_lag >= 0 for m in seen)
