"""After a clean stop the committed offsets are the end offsets; a restart repeats nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def make_app(bootstrap: str, group: str, topic: str, record: Record) -> parafka.App:
    class Counting(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App(kafka={"bootstrap.servers": bootstrap}, group_id=group, log_events=False)
    app.topic(topic, Counting)
    return app


def test_clean_stop_commits_the_end_and_a_restart_processes_only_new_messages(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=4), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 4) for i in range(400)))
    first = Record()
    with running(make_app(kafka_bootstrap, group, topic, first)):
        wait_until(lambda: first.count() == 400, 60, "400 messages")
    assert committed(kafka_bootstrap, group, topic, 4) == end_offsets(kafka_bootstrap, topic)

    second = Record()
    with running(make_app(kafka_bootstrap, group, topic, second)):
        # One new message per partition: the restarted app must process exactly those.
        produce_messages(kafka_bootstrap, topic, ((None, b"new", p) for p in range(4)))
        wait_until(lambda: second.count() == 4, 60, "the 4 new messages")
    assert {p: offsets for p, offsets in second.offsets.items()} == {p: [100] for p in range(4)}
    assert committed(kafka_bootstrap, group, topic, 4) == {p: 101 for p in range(4)}
