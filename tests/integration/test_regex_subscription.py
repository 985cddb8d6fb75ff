"""A regex route (``app.topic("^<prefix>-.*", ...)``) reads every matching topic, picks up a
matching topic created after the start, leaves other topics alone and commits per topic."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import create_topic, produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_pattern_route_reads_matching_topics_and_picks_up_new_ones(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("rx")
    assert re.fullmatch(r"[A-Za-z0-9-]+", prefix)  # nothing a regex dialect reads differently
    first, second, later = f"{prefix}-a", f"{prefix}-b", f"{prefix}-later"
    other = f"{prefix}.other"  # shares the prefix, does not match "^<prefix>-"
    create_topic(kafka_bootstrap, first, 2)
    create_topic(kafka_bootstrap, second, 1)
    create_topic(kafka_bootstrap, other, 1)
    produce_messages(kafka_bootstrap, first, ((None, b"a", i % 2) for i in range(10)))
    produce_messages(kafka_bootstrap, second, ((None, b"b", 0) for _ in range(6)))
    produce_messages(kafka_bootstrap, other, ((None, b"o", 0) for _ in range(4)))

    lock = threading.Lock()
    seen: Counter[str] = Counter()  # messages per topic
    mismatched: list[str] = []  # a consumer whose topic is not its messages' topic

    class Matching(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            with lock:
                for message in messages:
                    seen[message.topic] += 1
                    if message.topic != self.topic:
                        mismatched.append(f"{self.topic} got {message.topic}")

    group = unique_name("g")
    app = parafka.App(
        kafka={
            "bootstrap.servers": kafka_bootstrap,
            "topic.metadata.refresh.interval.ms": 500,  # parafka's default is 10 s
        },
        group_id=group,
        log_events=False,
    )
    app.topic(f"^{prefix}-.*", Matching, deserializer=parafka.raw_deserializer)
    errors: list[parafka.Event] = []
    app.monitor.subscribe("error.occurred", errors.append)

    def count(topic: str) -> int:
        with lock:
            return seen[topic]

    with running(app):
        wait_until(lambda: count(first) == 10 and count(second) == 6, 60, "both matching topics")
        create_topic(kafka_bootstrap, later, 1)
        produce_messages(kafka_bootstrap, later, ((None, b"l", 0) for _ in range(5)))
        wait_until(lambda: count(later) == 5, 60, "the matching topic created after the start")

    assert dict(seen) == {first: 10, second: 6, later: 5}  # nothing twice, nothing of `other`
    assert mismatched == []
    assert [e["type"] for e in errors] == []
    # Offsets were stored and committed under each concrete topic, not under the pattern.
    assert committed(kafka_bootstrap, group, first, 2) == {0: 5, 1: 5}
    assert committed(kafka_bootstrap, group, second, 1) == {0: 6}
    assert committed(kafka_bootstrap, group, later, 1) == {0: 5}
    assert committed(kafka_bootstrap, group, other, 1) == {0: -1001}
