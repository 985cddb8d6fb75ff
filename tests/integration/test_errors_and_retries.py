"""An exception in consume() pauses only its partition, retries in order, loses nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_failing_batch_is_retried_in_order_while_other_partitions_progress(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(200)))
    record = Record()
    failures: list[int] = []
    release = threading.Event()
    retries: list[parafka.Event] = []

    failed_once = threading.Event()

    class Flaky(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            # Partition 0 fails at offset 30 until partition 1 is completely done; partition 1
            # starts only once partition 0 has failed, so all its work happens meanwhile.
            offsets = [m.offset for m in messages]
            if self.partition == 0 and 30 in offsets and not release.is_set():
                failures.append(offsets[0])
                failed_once.set()
                raise RuntimeError("downstream unavailable")
            if self.partition == 1:
                assert failed_once.wait(30)
            record.add(messages)
            if self.partition == 1 and record.offsets[1][-1:] == [99]:
                release.set()

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=2,
        max_messages=10,
        pause_timeout=0.05,
        pause_max_timeout=0.2,
        log_events=False,
    )
    app.topic(topic, Flaky)
    app.monitor.subscribe("consumer.retry", retries.append)
    with running(app):
        wait_until(lambda: record.count() == 200, 60, "all messages despite the failures")
    assert len(failures) >= 1
    assert record.offsets[0] == list(range(100)), "retried from the failed batch, in order"
    assert record.offsets[1] == list(range(100))
    assert retries[0]["partition"] == 0
    assert retries[0]["offset"] == failures[0]
    assert committed(kafka_bootstrap, group, topic, 2) == end_offsets(kafka_bootstrap, topic)


def test_manual_offset_management_commits_only_what_was_marked(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(20)))
    seen: list[int] = []
    answers: list[bool] = []

    class Careful(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                seen.append(message.offset)
                if message.offset < 12:
                    answers.append(self.mark_as_consumed(message))

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=5,
        log_events=False,
    )
    app.topic(topic, Careful, manual_offset_management=True)
    with running(app):
        wait_until(lambda: len(seen) == 20, 60, "20 messages")
    assert seen == list(range(20))
    assert answers == [True] * 12
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 12}
