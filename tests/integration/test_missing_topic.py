"""A subscribed topic that does not exist yet: a clear error event, the other topics keep
flowing, and the topic is picked up once it is created."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import parafka
from parafka.testing import create_topic, produce_messages

from .helpers import Record, running, wait_until

pytestmark = pytest.mark.integration


def test_a_missing_topic_is_reported_and_picked_up_once_created(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    present, later = new_topic(partitions=1), unique_name("later")
    produce_messages(kafka_bootstrap, present, ((None, b"x", 0) for _ in range(3)))
    record = Record()
    errors: list[parafka.Event] = []

    class Plain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App(
        kafka={
            "bootstrap.servers": kafka_bootstrap,
            "topic.metadata.refresh.interval.ms": 2000,  # parafka's default is 10 s
        },
        group_id=unique_name("g"),
        log_events=False,
    )
    app.topic(present, Plain, deserializer=parafka.raw_deserializer)
    app.topic(later, Plain, deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("error.occurred", errors.append)
    with running(app):
        wait_until(lambda: record.count() == 3, 60, "the existing topic's messages")
        wait_until(
            lambda: any(e["type"] == "listener.topic_missing" for e in errors),
            30,
            "the missing-topic error event",
        )
        missing = next(e for e in errors if e["type"] == "listener.topic_missing")
        assert missing["topic"] == later
        create_topic(kafka_bootstrap, later, 1)
        produce_messages(kafka_bootstrap, later, ((None, b"y", 0) for _ in range(2)))
        wait_until(lambda: record.count() == 5, 60, "the new topic's messages")
