"""A listener that does not finish its shutdown makes the stop unclean, like a hung job:
``stop()`` returns False (so ``run()`` and ``parafka server`` exit with status 2) and
``shutdown.hanging`` names the listener."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import wait_until

pytestmark = pytest.mark.integration


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def test_a_listener_blocked_at_stop_is_reported_and_the_stop_is_not_clean(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"v", 0) for _ in range(10)))
    block, release, blocked = threading.Event(), threading.Event(), threading.Event()

    def stats(_report: str) -> None:
        # librdkafka runs this on the listener thread, inside poll(): once told to, the
        # listener is stuck here until the test releases it. (The app's producer, which gets
        # the same settings, calls it on its own thread: that one is left alone.)
        if block.is_set() and threading.current_thread().name == f"parafka-listener-{group}":
            blocked.set()
            release.wait(60)

    app = parafka.App(
        kafka={
            "bootstrap.servers": kafka_bootstrap,
            "statistics.interval.ms": 100,
            "stats_cb": stats,
        },
        group_id=group,
        shutdown_timeout=1.0,
        close_timeout=1.0,
        log_events=False,
    )
    app.topic(topic, Noop, deserializer=parafka.raw_deserializer)
    hanging: list[parafka.Event] = []
    app.monitor.subscribe("shutdown.hanging", hanging.append)
    processed = threading.Event()
    app.monitor.subscribe("worker.processed", lambda _event: processed.set())
    app.start()
    try:
        wait_until(processed.is_set, 30, "a processed batch")
        block.set()
        wait_until(blocked.is_set, 30, "the listener stuck in its stats_cb")
        assert app.stop() is False
    finally:
        release.set()
    (event,) = hanging
    assert event["jobs"] == []
    (listener,) = event["listeners"]
    assert f"parafka-listener-{group}" in listener
    assert "did not finish" in listener
