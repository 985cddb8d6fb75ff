"""A ``consume()`` running past ``watchdog_interval`` is reported with its stack (event and
warning log line), and the app keeps processing."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import Record, running, wait_until

pytestmark = pytest.mark.integration


def make_app(bootstrap: str, group: str) -> parafka.App:
    return parafka.App(
        kafka={"bootstrap.servers": bootstrap}, group_id=group, watchdog_interval=0.2
    )


def test_a_blocked_consume_is_reported_with_its_stack_and_processing_goes_on(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"1", 0) for _ in range(5)))
    record = Record()
    reported: list[parafka.Event] = []
    seen = threading.Event()

    class Stuck(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            if messages.first_offset == 0:
                wait_for_the_watchdog_in_consume(seen)
            record.add(messages)

    def on_slow(event: parafka.Event) -> None:
        reported.append(event)
        seen.set()

    app = make_app(kafka_bootstrap, unique_name("g"))
    app.topic(topic, Stuck, deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("worker.slow", on_slow)
    with caplog.at_level(logging.WARNING, logger="parafka"), running(app):
        wait_until(seen.is_set, 30, "the watchdog's report")
        produce_messages(kafka_bootstrap, topic, ((None, b"2", 0) for _ in range(5)))
        wait_until(lambda: record.count() == 10, 60, "the messages after the slow batch")

    first = reported[0]
    assert (first["topic"], first["partition"], first["lane"]) == (topic, 0, 0)
    assert first["first_offset"] == 0
    assert first["intervals"] == 1
    assert first["running"] >= 0.2
    assert first["worker"].startswith("parafka-worker-")
    assert "in wait_for_the_watchdog_in_consume" in first["stack"]
    assert "in consume" in first["stack"]
    assert record.offsets[0] == list(range(10))
    logged = [r for r in caplog.records if r.getMessage().startswith("worker.slow: ")]
    assert logged
    assert logged[0].levelno == logging.WARNING
    assert "wait_for_the_watchdog_in_consume" in logged[0].getMessage()


def wait_for_the_watchdog_in_consume(seen: threading.Event) -> None:
    assert seen.wait(30), "the watchdog never reported the blocked consume()"


def test_a_slow_async_consume_is_reported_with_the_coroutines_stack(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"1", 0) for _ in range(3)))
    done: list[int] = []
    reported: list[parafka.Event] = []
    seen = threading.Event()

    class Awaiting(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:
            await await_the_watchdog(seen)
            done.extend(m.offset for m in messages)

    def on_slow(event: parafka.Event) -> None:
        reported.append(event)
        seen.set()

    app = make_app(kafka_bootstrap, unique_name("g"))
    app.topic(topic, Awaiting, deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("worker.slow", on_slow)
    with running(app):
        wait_until(seen.is_set, 30, "the watchdog's report")
        wait_until(lambda: len(done) == 3, 30, "the batch to finish once reported")

    first = reported[0]
    assert first["worker"] == "parafka-asyncio"
    assert first["stack"].index("in consume") < first["stack"].index("in await_the_watchdog")


async def await_the_watchdog(seen: threading.Event) -> None:
    while not seen.is_set():
        await asyncio.sleep(0.01)
