"""Failures against the real broker: per-message retries, dead letter queues, malformed
payloads, DLQ produce failures, critical errors, and secrets that never reach the logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
)

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, read_all, running, wait_until

pytestmark = pytest.mark.integration


def test_a_message_failing_k_times_is_retried_alone_in_order_with_back_off(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"{}", i % 2) for i in range(100)))
    record = Record()
    lock = threading.Lock()
    runs: dict[int, list[float]] = {}  # offset 20 of partition 0: when each run started

    class FailsTwice(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if self.partition == 0 and message.offset == 20:
                    with lock:
                        runs.setdefault(20, []).append(time.monotonic())
                        if len(runs[20]) <= 2:
                            raise ConnectionError("downstream timed out")
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=2,
        max_messages=10,
        pause_timeout=0.2,
        pause_max_timeout=1.0,
        log_events=False,
    )
    app.topic(topic, FailsTwice)
    with running(app):
        wait_until(lambda: record.count() == 100, 60, "all messages")
    assert record.offsets[0] == list(range(100 // 2)), "in order, nothing skipped"
    assert record.offsets[1] == list(range(50))
    starts = runs[20]
    assert len(starts) == 3
    # Back-off respected: 0.2 s after the first failure, then 0.4 s (lower bounds only).
    assert starts[1] - starts[0] >= 0.2
    assert starts[2] - starts[1] >= 0.4
    sizes = [size for partition, size, _ in record.batches if partition == 0]
    assert 1 in sizes, "the retry ran messages one at a time"
    assert committed(kafka_bootstrap, group, topic, 2) == {0: 50, 1: 50}


def test_a_poison_message_goes_to_the_dlq_with_its_story_and_the_partition_moves_on(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    dlq = new_topic(partitions=1, base="dlq")
    values = [b"not json" if i == 7 else b'{"n": %d}' % i for i in range(30)]
    produce_messages(kafka_bootstrap, topic, ((b"key-%d" % i, v, 0) for i, v in enumerate(values)))
    seen: list[int] = []
    runs: list[int] = []

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                runs.append(message.offset)
                seen.append(message.payload["n"])  # offset 7 raises DeserializationError

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=10,
        pause_timeout=0.05,
        pause_max_timeout=0.1,
        log_events=False,
    )
    app.topic(topic, Orders, dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=2))
    dispatched: list[parafka.Event] = []
    app.monitor.subscribe("dead_letter_queue.dispatched", dispatched.append)
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 30}, 60, "commit")
    assert runs.count(7) == 3  # max_retries=2: three runs in all
    good = [i for i in range(30) if i != 7]
    # Neighbours in order (the failed batch's good messages ran again, alone, before it moved on).
    assert list(dict.fromkeys(seen)) == good
    (letter,) = read_all(kafka_bootstrap, dlq, 1)
    assert letter.value() == b"not json"
    assert letter.key() == b"key-7"
    headers = dict(letter.headers())
    assert headers["parafka-original-topic"] == topic.encode()
    assert headers["parafka-original-partition"] == b"0"
    assert headers["parafka-original-offset"] == b"7"
    assert headers["parafka-consumer-group"] == group.encode()
    assert headers["parafka-attempts"] == b"3"
    assert headers["parafka-error-type"] == b"parafka.errors.DeserializationError"
    assert b"not JSON" in headers["parafka-error-message"]
    assert [(e["offset"], e["skipped"]) for e in dispatched] == [(7, False)]


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_dead_letter_that_can_never_be_produced_follows_the_policy(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    policy: str,
) -> None:
    """The DLQ topic refuses the message for good (larger than its max.message.bytes):
    ``stop`` ends the app with a critical error naming it, nothing committed past it;
    ``skip`` skips it with an event, and the rest goes on. Never a silent endless loop."""
    topic, group = new_topic(partitions=1), unique_name("g")
    dlq = unique_name("dlq-small")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    small = NewTopic(
        dlq, num_partitions=1, replication_factor=1, config={"max.message.bytes": "200"}
    )
    admin.create_topics([small])[dlq].result(30)
    produce_messages(
        kafka_bootstrap, topic, ((None, b"x" * (500 if i == 2 else 10), 0) for i in range(6))
    )
    failures: list[parafka.Event] = []
    dispatched: list[parafka.Event] = []

    class Poisoned(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 2:
                    raise ValueError("poison")

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "auto.commit.interval.ms": 200},
        group_id=group,
        pause_timeout=0.1,
        pause_max_timeout=0.5,
        log_events=False,
    )
    app.topic(
        topic,
        Poisoned,
        deserializer=parafka.raw_deserializer,
        dead_letter_queue=parafka.DeadLetterQueue(
            topic=dlq,
            max_retries=0,
            on_undeliverable=policy,  # type: ignore[arg-type]
        ),
    )
    app.monitor.subscribe(
        "error.occurred",
        lambda e: failures.append(e) if e["type"] == "dead_letter_queue.produce" else None,
    )
    app.monitor.subscribe("dead_letter_queue.dispatched", dispatched.append)
    app.start()
    try:
        if policy == "stop":
            wait_until(lambda: app.critical_error is not None, 60, "the critical error")
        else:
            wait_until(
                lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 6}, 60, "the rest"
            )
    finally:
        app.stop()
    assert len(failures) == 1  # tried once: it can never succeed
    assert isinstance(failures[0]["error"], parafka.UndeliverableError)
    if policy == "stop":
        assert isinstance(app.critical_error, parafka.DeadLetterError)
        assert "offset 2" in str(app.critical_error)
        assert committed(kafka_bootstrap, group, topic, 1)[0] <= 2  # never past the poison
        assert dispatched == []
    else:
        assert app.critical_error is None
        assert [(e["offset"], e["skipped"]) for e in dispatched] == [(2, True)]
    assert end_offsets(kafka_bootstrap, dlq) == {0: 0}  # nothing reached the DLQ topic


def test_a_critical_error_stops_the_app_without_committing_the_failed_batch(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(10)))

    class Fatal(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            if messages[0].offset == 5:
                raise SystemExit("the database is gone for good")

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=1,
        log_events=False,
    )
    app.topic(topic, Fatal, deserializer=parafka.raw_deserializer)
    app.start()
    try:
        wait_until(lambda: app.critical_error is not None, 60, "the critical error")
    finally:
        assert app.stop()
    assert isinstance(app.critical_error, SystemExit)
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 5}


def test_a_secret_never_reaches_logs_even_with_librdkafka_debug(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    canary = "canary-Zq8-secret"
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"{}", 0) for _ in range(3)))
    record = Record()

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    caplog.set_level(logging.DEBUG)
    app = parafka.App(
        kafka={
            "bootstrap.servers": kafka_bootstrap,
            "sasl.username": "user",
            "sasl.password": canary,  # unused on PLAINTEXT, but configured and logged about
            "debug": "conf,generic,security,consumer",
        },
        group_id=unique_name("g"),
    )
    app.topic(topic, Plain, dead_letter_queue=parafka.DeadLetterQueue(topic=f"{topic}.dlq"))
    with running(app):
        wait_until(lambda: record.count() == 3, 60, "3 messages")
    output = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sasl.password" in logged or "sasl" in logged.lower()  # the debug logs were on
    assert canary not in logged
    assert canary not in output.out + output.err
    assert canary not in repr(app)


def test_with_virtual_partitions_a_poison_message_stalls_only_its_lane(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    dlq = new_topic(partitions=1, base="dlq")
    keys = [b"poison" if i == 4 else f"k{i % 3}".encode() for i in range(60)]
    produce_messages(kafka_bootstrap, topic, ((key, b"v", 0) for key in keys))
    lock = threading.Lock()
    done: list[tuple[bytes | None, int]] = []
    others_done_while_failing = threading.Event()
    failures = [0]

    class Keyed(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.key == b"poison":
                    with lock:
                        failures[0] += 1
                        if len(done) == 59:
                            others_done_while_failing.set()
                    raise ValueError("poison")
                with lock:
                    done.append((message.key, message.offset))

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=4,
        pause_timeout=0.3,
        pause_max_timeout=0.6,
        log_events=False,
    )
    app.topic(
        topic,
        Keyed,
        deserializer=parafka.raw_deserializer,
        virtual_partitions=parafka.VirtualPartitions(
            partitioner=lambda m: m.key,
            max_partitions=4,
            reducer=lambda key: 0 if key == b"poison" else 1 + int(key[1:]),
        ),
        dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=3),
    )
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 60}, 60, "commit")
    assert failures[0] == 4  # max_retries=3: four runs in all, alone in its lane
    assert others_done_while_failing.is_set(), "the other lanes finished while it backed off"
    counts = {b"k0": 20, b"k1": 19, b"k2": 20}
    for key, count in counts.items():
        offsets = [o for k, o in done if k == key]
        assert offsets == sorted(offsets)
        assert len(offsets) == count
    (letter,) = read_all(kafka_bootstrap, dlq, 1)
    assert dict(letter.headers())["parafka-original-offset"] == b"4"
