"""Production-like topics against the real broker (issue 13): offsets with gaps from
transactional producers (aborted transactions read with read_committed) and compaction,
virtual partitions far past one metadata window of gaps, a pause in one lane, and a consumer
whose partitioner fails on a message its ``consume()`` fails on too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def write_transactions(
    bootstrap: str, topic: str, transactions: list[tuple[int, bool]], keys: int = 1
) -> list[bytes]:
    """Write ``(count, commit)`` transactions to partition 0; the committed values in order.

    Aborted messages are flushed before the abort, so they are in the log (offsets that a
    read_committed consumer never sees)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}", "linger.ms": 5}
    )
    producer.init_transactions(30)
    visible: list[bytes] = []
    number = 0
    for count, commit in transactions:
        producer.begin_transaction()
        for _ in range(count):
            value = str(number).encode()
            producer.produce(topic, value=value, key=str(number % keys).encode(), partition=0)
            if commit:
                visible.append(value)
            number += 1
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    return visible


class Seen:
    """Thread-safe record of processed values, in processing order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: list[bytes] = []

    def add(self, value: bytes) -> None:
        with self.lock:
            self.values.append(value)

    def count(self) -> int:
        with self.lock:
            return len(self.values)

    def of_key(self, keys: int, key: int) -> list[int]:
        with self.lock:
            return [int(v) for v in self.values if int(v) % keys == key]


def transactional_app(
    bootstrap: str, group: str, topic: str, consumer: type[parafka.Consumer], **route: Any
) -> parafka.App:
    app = parafka.App(
        kafka={"bootstrap.servers": bootstrap, "isolation.level": "read_committed"},
        group_id=group,
        max_messages=7,
        pause_timeout=0.05,
        pause_max_timeout=0.2,
        log_events=False,
    )
    app.topic(topic, consumer, deserializer=parafka.raw_deserializer, **route)
    return app


@pytest.mark.parametrize("virtual", [False, True], ids=["lanes=1", "virtual"])
def test_a_transactional_topic_commits_its_end_and_a_retry_keeps_order(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    virtual: bool,
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    plan = [(5, True), (4, False), (6, True), (3, False), (9, True), (2, False)] * 6
    plan.append((3, False))  # the log ends with an aborted transaction and its marker
    visible = write_transactions(kafka_bootstrap, topic, plan, keys=3)
    end = end_offsets(kafka_bootstrap, topic)[0]
    seen = Seen()
    failed: set[bytes] = set()
    poison = visible[len(visible) // 2]

    class Marking(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.payload == poison and poison not in failed:
                    failed.add(poison)
                    raise RuntimeError("one failure")
                seen.add(message.payload)
                self.mark_as_consumed(message)

    vp = (
        parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=3)
        if virtual
        else None
    )
    app = transactional_app(kafka_bootstrap, group, topic, Marking, virtual_partitions=vp)
    with running(app):
        wait_until(lambda: seen.count() >= len(visible), 60, "every committed message")
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, 1) == {0: end},
            30,
            f"the commit to reach the end ({end})",
        )
    assert failed == {poison}
    # Each message exactly once (everything it processed was marked), in order per key.
    assert sorted(seen.values, key=int) == visible
    assert len(seen.values) == len(visible)
    for key in range(3):
        order = seen.of_key(3, key)
        assert order == sorted(order)
    if not virtual:
        assert seen.values == visible


def test_virtual_partitions_never_stall_on_gaps_past_one_metadata_window(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Over 12,000 offsets of which a third are aborted records and markers: the lanes'
    window (progress.MAX_SPAN offsets above the commit point) never fills with gaps."""
    topic, group = new_topic(partitions=1), unique_name("g")
    plan = [(30, True), (15, False)] * 280  # 12,600 records + 560 markers
    visible = write_transactions(kafka_bootstrap, topic, plan, keys=8)
    end = end_offsets(kafka_bootstrap, topic)[0]
    assert end > 13_000
    seen = Seen()

    class Quick(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                seen.add(message.payload)

    vp = parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=4)
    app = transactional_app(kafka_bootstrap, group, topic, Quick, virtual_partitions=vp)
    with running(app):
        wait_until(lambda: seen.count() >= len(visible), 120, "every committed message")
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, 1) == {0: end},
            30,
            f"the commit to reach the end ({end})",
        )
    assert sorted(set(seen.values), key=int) == visible


def test_a_compacted_topic_with_deletes_commits_its_end(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("compacted"), unique_name("g")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    config = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "100",
        "min.compaction.lag.ms": "0",
    }
    admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(30)
    records: list[tuple[bytes | None, bytes | None, int | None]] = []
    for round_ in range(20):
        for key in range(10):
            deleted = key % 3 == 0 and round_ == 19
            value = None if deleted else f"{key}-{round_}".encode()
            records.append((f"k{key}".encode(), value, 0))
    produce_messages(kafka_bootstrap, topic, records)
    produced = len(records)

    def survivors() -> list[int]:
        reader = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": unique_name("reader"),
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        reader.assign([TopicPartition(topic, 0, 0)])
        offsets: list[int] = []
        try:
            while True:
                message = reader.poll(5)
                if message is None or message.error() is not None:
                    return offsets
                offsets.append(message.offset())
        finally:
            reader.close()

    deadline = time.monotonic() + 90
    while True:  # roll the segment until the cleaner has compacted the first ones away
        time.sleep(0.3)
        produce_messages(kafka_bootstrap, topic, [(b"roll", b"x", 0)])
        produced += 1
        remaining = survivors()
        if len(remaining) < produced // 2:
            break
        assert time.monotonic() < deadline, "the broker never compacted the topic"
    end = end_offsets(kafka_bootstrap, topic)[0]
    gaps = end - len(remaining)
    assert gaps > 0
    lock = threading.Lock()
    processed: list[int] = []

    class Reader(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                processed.extend(message.offset for message in messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap}, group_id=group, log_events=False
    )
    app.topic(topic, Reader, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: end}, 60, "the end")
    # The cleaner may go on compacting while the app reads: what is still in the log now was
    # there all along, so every one of those messages was processed.
    final = survivors()
    assert final
    assert set(processed) >= set(final), sorted(set(final) - set(processed))[:10]


@pytest.mark.parametrize("distribution", ["consistent", "balanced"])
def test_a_pause_in_one_lane_loses_no_other_lanes_message(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    distribution: str,
) -> None:
    """Two lanes, one slow, the fast one pausing once (before: 46 of 300 never processed while
    the commit reached the end)."""
    topic, group = new_topic(partitions=1), unique_name("g")
    keys = [b"slow" if i % 3 == 0 else b"fast" for i in range(300)]
    produce_messages(
        kafka_bootstrap, topic, ((key, str(i).encode(), 0) for i, key in enumerate(keys))
    )
    lock = threading.Lock()
    processed: list[tuple[bytes, int]] = []
    paused = threading.Event()
    running_in: dict[bytes, int] = {}  # key -> the lane instance running it now
    overlaps: list[bytes] = []

    class Lanes(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            keys = {m.key for m in messages if m.key is not None}
            with lock:
                for key in keys:
                    if running_in.setdefault(key, id(self)) != id(self):
                        overlaps.append(key)
            try:
                self.run(messages)
            finally:
                with lock:
                    for key in keys:
                        if running_in.get(key) == id(self):
                            del running_in[key]

        def run(self, messages: parafka.Messages) -> None:
            for message in messages:
                assert message.key is not None
                if message.key == b"slow":
                    time.sleep(0.01)
                if message.key == b"fast" and message.offset >= 40 and not paused.is_set():
                    paused.set()
                    self.pause(message.offset, timeout=0.2)
                    return
                with lock:
                    processed.append((message.key, message.offset))

    vp = parafka.VirtualPartitions(
        partitioner=lambda m: m.key,
        max_partitions=2,
        distribution=distribution,  # type: ignore[arg-type]
        # consistent: the slow key alone in lane 0; balanced puts keys by load (no reducer)
        **({"reducer": lambda k: 0 if k == b"slow" else 1} if distribution == "consistent" else {}),
    )
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=2,
        max_messages=5,
        log_events=False,
    )
    app.topic(topic, Lanes, deserializer=parafka.raw_deserializer, virtual_partitions=vp)
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 300}, 90, "the end")
    assert paused.is_set()
    assert overlaps == [], "a key ran in two lanes at once"
    done = {offset for _key, offset in processed}
    assert done == set(range(300)), f"never processed: {sorted(set(range(300)) - done)[:10]}"
    for key in (b"slow", b"fast"):
        firsts = list(dict.fromkeys(o for k, o in processed if k == key))
        assert firsts == sorted(firsts), f"{key!r} out of order"


def test_a_failing_partitioner_and_consume_dead_letter_that_message_only(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Before: 200 good messages ran 51 times and nothing reached the DLQ."""
    topic, dlq, group = new_topic(partitions=1), new_topic(partitions=1), unique_name("g")
    produce_messages(
        kafka_bootstrap, topic, ((str(i % 7).encode(), str(i).encode(), 0) for i in range(201))
    )
    errors: list[parafka.Event] = []
    lock = threading.Lock()
    runs: dict[int, int] = {}
    sizes: list[int] = []

    def partitioner(message: parafka.Message) -> Any:
        if message.offset == 100:
            raise ValueError("no key for 100")
        return message.key

    class Failing(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                sizes.append(len(messages))
            for message in messages:
                if message.offset == 100:
                    raise ValueError("cannot process 100")
                with lock:
                    runs[message.offset] = runs.get(message.offset, 0) + 1
                self.mark_as_consumed(message)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=10,
        pause_timeout=0.05,
        pause_max_timeout=0.1,
        log_events=False,
    )
    app.topic(
        topic,
        Failing,
        deserializer=parafka.raw_deserializer,
        virtual_partitions=parafka.VirtualPartitions(partitioner=partitioner, max_partitions=3),
        dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=2),
    )
    app.monitor.subscribe("error.occurred", errors.append)
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 201}, 60, "the end")
    assert sorted(runs) == [o for o in range(201) if o != 100]
    assert set(runs.values()) == {1}
    assert max(sizes) <= 10
    assert end_offsets(kafka_bootstrap, dlq) == {0: 1}
    types = {e["type"] for e in errors}
    assert "virtual_partitions.partitioner" in types
