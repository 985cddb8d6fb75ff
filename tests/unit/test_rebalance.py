"""The rebalance callbacks with a fake client: revoke commits what finished work allows through
the revoking client and forgets the partition, lost commits nothing, a replaced client's
callbacks are ignored, and in quiet mode a new partition starts paused."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

import parafka
from parafka.connection import handle as handle_module
from parafka.connection.listener import Listener
from parafka.instrumentation import Event

BOOT = {"bootstrap.servers": "127.0.0.1:9"}  # never connected: a fake client


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class FakeClient:
    """Records the calls the rebalance callbacks make."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _keys(self, partitions: list[TopicPartition]) -> list[tuple[str, int, int]]:
        return [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("assign", self._keys(partitions)))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("resume", self._keys(partitions)))

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("pause", self._keys(partitions)))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.calls.append(("commit", (self._keys(offsets), asynchronous)))
        return offsets

    def close(self) -> None:
        self.calls.append(("close", None))


class Setup:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients: list[FakeClient] = []

        def build(config: dict[str, Any], where: str) -> FakeClient:
            self.clients.append(FakeClient())
            return self.clients[-1]

        monkeypatch.setattr(handle_module, "build_client", build)
        app = parafka.App(kafka=BOOT, log_events=False)
        app.topic("t", Noop)
        self.events: list[Event] = []
        app.monitor.subscribe("*", self.events.append)
        (group,) = app.subscription_groups()
        self.listener = Listener(
            group,
            app.kafka,
            app.settings,
            app.workers.jobs,
            app.monitor,
            lambda exc: None,
            thread_name="parafka-listener-test",
        )
        self.rebalance = self.listener._rebalance
        self.client: Any = self.clients[0]

    def names(self) -> list[str]:
        return [event.name for event in self.events]


@pytest.fixture
def s(monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(monkeypatch)


PARTITIONS = [TopicPartition("t", 0), TopicPartition("t", 1)]


def test_revoke_commits_the_finished_point_through_the_revoking_client(s: Setup) -> None:
    s.rebalance.on_assign(s.client, PARTITIONS)
    assert set(s.listener._coordinators) == {("t", 0), ("t", 1)}
    s.listener._coordinators[("t", 0)].advance(5)  # the client stands at 5, nothing pending
    s.listener._flow.paused.add(("t", 0))
    s.client.calls.clear()
    s.rebalance.on_revoke(s.client, PARTITIONS)
    assert s.client.calls == [("commit", ([("t", 0, 5)], False))]
    assert s.listener._coordinators == {}
    assert s.listener._flow.paused == set()
    assert s.names()[-2:] == ["offsets.committed", "rebalance.revoked"]


def test_lost_partitions_commit_nothing(s: Setup) -> None:
    s.rebalance.on_assign(s.client, PARTITIONS)
    s.listener._coordinators[("t", 0)].advance(5)
    s.client.calls.clear()
    s.rebalance.on_lost(s.client, PARTITIONS)
    assert s.client.calls == []
    assert s.listener._coordinators == {}
    assert s.names()[-1] == "rebalance.lost"


def test_the_callbacks_of_a_client_that_is_not_current_are_ignored(s: Setup) -> None:
    s.rebalance.on_assign(s.client, PARTITIONS)
    s.listener._handle.replace(s.rebalance.lose_all)  # the old client's partitions are lost
    assert s.names()[-1] == "rebalance.lost"
    old, new = s.clients
    assert ("close", None) in old.calls
    events = len(s.events)
    s.rebalance.on_assign(old, PARTITIONS)  # late callbacks of the closing client
    s.rebalance.on_revoke(old, PARTITIONS)
    assert s.listener._coordinators == {}
    assert len(s.events) == events
    s.rebalance.on_assign(new, PARTITIONS)
    assert set(s.listener._coordinators) == {("t", 0), ("t", 1)}


def test_in_quiet_mode_a_new_partition_starts_paused_and_held(s: Setup) -> None:
    s.listener._flow.held = True
    s.rebalance.on_assign(s.client, [TopicPartition("t", 0)])
    assert s.client.calls == [
        ("assign", [("t", 0, -1001)]),
        ("resume", [("t", 0, -1001)]),
        ("pause", [("t", 0, -1001)]),
    ]
    assert s.listener._flow.paused == {("t", 0)}
    assert s.names()[-2:] == ["listener.paused", "rebalance.assigned"]
