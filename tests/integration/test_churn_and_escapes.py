"""Rebalance churn while a batch runs, and consumer code that escapes (issue 13, items 3 and 6),
against the real broker."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def test_two_quick_rebalances_while_a_batch_runs_leave_no_ghost(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Revoke, assign, revoke, assign while the first owner's batch still runs (pinned: the
    other member subscribes to another topic, so the eager assignor gives the partition back
    each time). Once the batch ends the partition is processed again, the revoked() hook
    runs, and stop() does not wait for a coordinator no loop drives."""
    topic, other, group = new_topic(partitions=1), new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(10)))
    release = threading.Event()
    started = threading.Event()
    lock = threading.Lock()
    processed: list[int] = []
    revoked: list[int] = []

    class Blocking(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 0:
                    started.set()
                    release.wait(60)
                with lock:
                    processed.append(message.offset)

        def revoked(self) -> None:
            with lock:
                revoked.append(self.partition)

    assigned: list[parafka.Event] = []
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "session.timeout.ms": 6000},
        group_id=group,
        max_messages=1,
        shutdown_timeout=10.0,
        log_events=False,
    )
    app.topic(topic, Blocking, deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("rebalance.assigned", assigned.append)
    app.start()
    try:
        assert started.wait(30), "the first batch never started"
        for _ in range(2):  # a member joins and leaves: two rebalances, each a revoke + assign
            before = len(assigned)
            member = Consumer(
                {
                    "bootstrap.servers": kafka_bootstrap,
                    "group.id": group,
                    "session.timeout.ms": 6000,
                }
            )
            member.subscribe([other])
            joined = False
            for _ in range(300):
                member.poll(0.1)
                if member.assignment():
                    joined = True
                    break
            assert joined, "the second member never joined"
            wait_until(lambda b=before: len(assigned) > b, 30, "the partition back after join")
            before = len(assigned)
            member.close()
            wait_until(lambda b=before: len(assigned) > b, 30, "the partition back after leave")
        assert processed == []  # the first batch still runs
        release.set()
        wait_until(lambda: len(set(processed)) == 10, 60, "the partition processed again")
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 10}, 30, "the commit")
    finally:
        release.set()
        clean = app.stop()
    assert clean, "stop() waited for a coordinator that no loop drives"
    assert revoked, "the revoked() hook of the first owner never ran"


@pytest.mark.parametrize("hook", ["initialized", "eofed", "shutdown"])
def test_system_exit_from_a_hook_stops_the_app_with_a_critical_error(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    hook: str,
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(3)))
    consumed = threading.Event()

    class Exiting(parafka.Consumer):
        def initialized(self) -> None:
            if hook == "initialized":
                raise SystemExit(3)

        def consume(self, messages: parafka.Messages) -> None:
            consumed.set()

        def eofed(self) -> None:
            if hook == "eofed":
                raise KeyboardInterrupt

        def shutdown(self) -> None:
            if hook == "shutdown":
                raise SystemExit(4)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "enable.partition.eof": True},
        group_id=group,
        shutdown_timeout=10.0,
        log_events=False,
    )
    app.topic(topic, Exiting, deserializer=parafka.raw_deserializer)
    app.start()
    try:
        if hook == "shutdown":
            wait_until(consumed.is_set, 30, "the first batch")
        else:
            wait_until(lambda: app.critical_error is not None, 30, "the critical error")
    finally:
        app.stop()
    assert isinstance(app.critical_error, (SystemExit, KeyboardInterrupt))
    if hook == "initialized":
        assert not consumed.is_set()  # never processed, never skipped:
        assert committed(kafka_bootstrap, group, topic, 1)[0] in (-1001, 0)


def test_eofed_runs_after_the_messages_of_the_same_fetch(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """The messages are there before the app starts: the first fetch holds them and the
    end-of-partition together. eofed() comes after all of them, every time."""
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(50)))
    lock = threading.Lock()
    calls: list[str] = []

    class Ends(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                calls.extend("consume" for _ in messages)

        def eofed(self) -> None:
            with lock:
                calls.append("eofed")

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "enable.partition.eof": True},
        group_id=unique_name("g"),
        max_messages=5,
        log_events=False,
    )
    app.topic(topic, Ends, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: "eofed" in calls, 60, "eofed()")
    with lock:
        assert calls[: calls.index("eofed")] == ["consume"] * 50


def test_a_consumer_that_cannot_be_created_is_retried_never_dead_lettered(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, dlq, group = new_topic(partitions=1), new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(5)))
    lock = threading.Lock()
    attempts = {"created": 0}
    processed: list[int] = []

    class NeedsDatabase(parafka.Consumer):
        def __init__(self) -> None:
            with lock:
                attempts["created"] += 1
                if attempts["created"] <= 3:
                    raise ConnectionError("database not reachable yet")

        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                processed.extend(m.offset for m in messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        pause_timeout=0.05,
        pause_max_timeout=0.2,
        log_events=False,
    )
    app.topic(
        topic,
        NeedsDatabase,
        deserializer=parafka.raw_deserializer,
        dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=0),
    )
    errors: list[parafka.Event] = []
    app.monitor.subscribe("error.occurred", errors.append)
    with running(app):
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 5}, 60, "the end")
    assert sorted(processed) == [0, 1, 2, 3, 4]
    assert [e["type"] for e in errors] == ["consumer.initialized"] * 3
    assert end_offsets(kafka_bootstrap, dlq) == {0: 0}
