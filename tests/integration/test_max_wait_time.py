"""``max_wait_time`` on the real engine: a trickle waits in the backlog to fill a batch, and a
partial batch still leaves once its wait is over (the listener's sweep drives it)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import Record, running, wait_until

pytestmark = pytest.mark.integration


class Polled:
    """Messages the listener has fetched so far (``listener.polled`` events)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def __call__(self, event: parafka.Event) -> None:
        with self.lock:
            self.count += event["messages"]

    def at_least(self, count: int) -> Callable[[], bool]:
        def check() -> bool:
            with self.lock:
                return self.count >= count

        return check


def test_a_trickle_waits_to_fill_one_batch(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=1)
    record = Record()
    polled = Polled()

    class Batches(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        max_messages=4,
        max_wait_time=600.0,  # far beyond the test's deadlines: only a full batch can leave
        shutdown_timeout=600.0,
        log_events=False,
    )
    app.topic(topic, Batches)
    app.monitor.subscribe("listener.polled", polled)
    with running(app):
        for offset in range(4):
            # one message per fetch: each is in the listener's hands before the next is sent
            produce_messages(kafka_bootstrap, topic, [(None, b"x", 0)])
            wait_until(polled.at_least(offset + 1), 60, f"message {offset} fetched")
        wait_until(lambda: record.count() >= 4, 60, "the batch of 4")
    assert [size for _, size, _ in record.batches] == [4]
    assert record.offsets[0] == [0, 1, 2, 3]


def test_a_partial_batch_leaves_once_its_wait_is_over(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    record = Record()

    class Batches(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=unique_name("g"),
        max_messages=1000,  # never full here
        max_wait_time=0.2,
        log_events=False,
    )
    app.topic(topic, Batches)
    with running(app):
        produce_messages(kafka_bootstrap, topic, [(None, b"x", i % 2) for i in range(5)])
        wait_until(lambda: record.count() >= 5, 60, "5 messages in partial batches")
    assert record.offsets[0] == [0, 1, 2]
    assert record.offsets[1] == [0, 1]
