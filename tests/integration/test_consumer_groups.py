"""Each consumer group has its own listener thread and consumes the topic independently."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_two_groups_consume_independently_on_their_own_listeners(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(200)))
    first, second = Record(), Record()
    listeners: set[str] = set()

    class First(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            first.add(messages)

    class Second(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            second.add(messages)

    main_group, audit_group = unique_name("main"), unique_name("audit")
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap}, group_id=main_group, log_events=False
    )
    app.topic(topic, First)
    app.consumer_group(audit_group).topic(topic, Second)
    app.monitor.subscribe(
        "rebalance.assigned", lambda _e: listeners.add(threading.current_thread().name)
    )
    with running(app):
        wait_until(lambda: first.count() == 200 and second.count() == 200, 60, "both groups")
    assert listeners == {f"parafka-listener-{main_group}", f"parafka-listener-{audit_group}"}
    for record in (first, second):
        assert record.offsets[0] == list(range(100))
        assert record.offsets[1] == list(range(100))
    ends = end_offsets(kafka_bootstrap, topic)
    assert committed(kafka_bootstrap, main_group, topic, 2) == ends
    assert committed(kafka_bootstrap, audit_group, topic, 2) == ends
