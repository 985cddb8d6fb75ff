"""Consumer instances: initialized() once, revoked() when their partition moves to another
member, shutdown() at stop — once per instance, never both."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import wait_until

pytestmark = pytest.mark.integration


def test_hooks_run_once_per_instance_across_a_cooperative_rebalance(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=4), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", p) for p in range(4)))
    lock = threading.Lock()
    calls: list[tuple[str, str, int, int]] = []  # (app, hook, partition, instance id)

    def make(name: str) -> parafka.App:
        class Hooked(parafka.Consumer):
            def _log(self, hook: str) -> None:
                with lock:
                    calls.append((name, hook, self.partition, id(self)))

            def initialized(self) -> None:
                self._log("initialized")

            def consume(self, messages: parafka.Messages) -> None:
                self._log("consume")

            def revoked(self) -> None:
                self._log("revoked")

            def shutdown(self) -> None:
                self._log("shutdown")

        app = parafka.App(
            kafka={
                "bootstrap.servers": kafka_bootstrap,
                "partition.assignment.strategy": "cooperative-sticky",
            },
            group_id=group,
            log_events=False,
        )
        app.topic(topic, Hooked)
        return app

    def hooks(app: str, hook: str) -> list[int]:
        with lock:
            return sorted(p for a, h, p, _ in calls if a == app and h == hook)

    first, second = make("first"), make("second")
    first.start()
    try:
        wait_until(lambda: hooks("first", "consume") == [0, 1, 2, 3], 60, "first consumes all")
        second.start()
        try:
            wait_until(lambda: len(hooks("first", "revoked")) == 2, 90, "two partitions moved")
            produce_messages(kafka_bootstrap, topic, ((None, b"y", p) for p in range(4)))
            wait_until(lambda: len(hooks("second", "consume")) == 2, 60, "second consumes")
        finally:
            assert second.stop()
    finally:
        assert first.stop()

    moved = hooks("first", "revoked")
    assert sorted(moved + hooks("first", "shutdown")) == [0, 1, 2, 3]
    assert hooks("second", "initialized") == moved
    assert hooks("second", "shutdown") == moved  # it stopped first: shutdown(), not revoked()
    assert hooks("second", "revoked") == []
    per_instance = Counter((a, h, i) for a, h, _, i in calls if h != "consume")
    assert all(count == 1 for count in per_instance.values()), per_instance
    ends = Counter(i for _, h, _, i in calls if h in ("revoked", "shutdown"))
    assert all(count == 1 for count in ends.values()), "revoked() and shutdown() never both"
