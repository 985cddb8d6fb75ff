"""Static membership (group.instance.id): a quick restart keeps the assignment without a
rebalance; a duplicate id is fenced with a clear fatal error; ids stay unique per connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka

from .helpers import running, wait_until

pytestmark = pytest.mark.integration


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class Watcher:
    """Rebalance events of one app, thread-safe."""

    def __init__(self, app: parafka.App) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, list[tuple[str, int]]]] = []
        for name in ("rebalance.assigned", "rebalance.revoked", "rebalance.lost"):
            app.monitor.subscribe(name, self.record)  # type: ignore[arg-type]

    def record(self, event: parafka.Event) -> None:
        with self.lock:
            self.events.append((event.name, sorted(event["partitions"])))

    def assigned(self) -> list[tuple[str, int]]:
        owned: set[tuple[str, int]] = set()
        with self.lock:
            for name, partitions in self.events:
                if name == "rebalance.assigned":
                    owned.update(partitions)
                else:
                    owned.difference_update(partitions)
        return sorted(owned)


def static_app(bootstrap: str, group: str, topic: str, instance: str) -> parafka.App:
    app = parafka.App(
        kafka={
            "bootstrap.servers": bootstrap,
            "group.instance.id": instance,
            "session.timeout.ms": 20_000,
            "partition.assignment.strategy": "range",
        },
        group_id=group,
        log_events=False,
    )
    app.topic(topic, Noop)
    return app


def test_a_static_member_restarting_in_time_gets_its_partitions_back_without_rebalance(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    first = static_app(kafka_bootstrap, group, topic, "member-a")
    first_watch = Watcher(first)
    other = static_app(kafka_bootstrap, group, topic, "member-b")
    other_watch = Watcher(other)
    with running(other):
        first.start()
        try:
            wait_until(
                lambda: len(first_watch.assigned()) == 1 and len(other_watch.assigned()) == 1,
                60,
                "one partition each",
            )
            mine = first_watch.assigned()
        finally:
            assert first.stop()
        with other_watch.lock:
            seen_before_restart = len(other_watch.events)
        again = static_app(kafka_bootstrap, group, topic, "member-a")
        again_watch = Watcher(again)
        with running(again):
            wait_until(lambda: again_watch.assigned() == mine, 30, "the same partition back")
        with other_watch.lock:
            after = other_watch.events[seen_before_restart:]
    # The other member saw no revocation or assignment while the static member restarted.
    assert after == []


def test_a_duplicate_instance_id_is_fenced_with_a_clear_error(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    old = static_app(kafka_bootstrap, group, topic, "same-id")
    old_watch = Watcher(old)
    old.start()
    try:
        wait_until(
            lambda: old_watch.assigned() == [(topic, 0)], 60, "the first member's assignment"
        )
        with running(static_app(kafka_bootstrap, group, topic, "same-id")):
            wait_until(lambda: old.critical_error is not None, 60, "the old member to be fenced")
    finally:
        old.stop()
    message = str(old.critical_error)
    assert "fenced because another member uses group.instance.id 'same-id'" in message
    assert "Static consumer fenced" in message  # librdkafka's own words, kept


def test_each_connection_of_a_group_gets_its_own_instance_id(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    first_topic, second_topic = new_topic(partitions=1), new_topic(partitions=1)
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "group.instance.id": "svc"},
        group_id=unique_name("g"),
        log_events=False,
    )
    app.topic(first_topic, Noop)
    app.topic(second_topic, Noop, subscription_group="second")
    watch = Watcher(app)
    with running(app):
        wait_until(lambda: len(watch.assigned()) == 2, 60, "both connections assigned")
        ids = sorted(str(listener._handle.instance_id) for listener in app._listeners)
    assert ids == ["svc", "svc-2"]
