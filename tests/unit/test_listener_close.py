"""The bounded close commits the final offsets through the client it closes, on its helper
thread, never through the listener's current client."""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import TopicPartition

import parafka
from parafka.connection.listener import Listener

BOOT = {"bootstrap.servers": "127.0.0.1:9"}  # never connected


class Nothing(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class ClosingClient:
    """Records the calls the closer thread makes on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.calls.append(("commit", threading.current_thread().name, offsets))
        return offsets

    def close(self) -> None:
        self.calls.append(("close", threading.current_thread().name, None))


def test_the_final_commit_goes_through_the_client_being_closed() -> None:
    app = parafka.App(kafka=BOOT, log_events=False)
    app.topic("t", Nothing)
    (group,) = app.subscription_groups()
    listener = Listener(
        group,
        app.kafka,
        app.settings,
        app.workers.jobs,
        app.monitor,
        lambda exc: None,
        thread_name="parafka-listener-test",
    )
    closing = ClosingClient()
    offsets = [TopicPartition("t", 0, 5)]
    try:
        listener._close(closing, offsets)
    finally:
        listener.discard()
    assert closing.calls == [
        ("commit", "parafka-listener-test-close", offsets),
        ("close", "parafka-listener-test-close", None),
    ]
