"""The client handle with fake clients: the bounded close commits the final offsets through the
client it closes, on the closer thread; callbacks of a replaced client, or run on another
thread, are not the current client's; a fenced member's fatal error is explained."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

import parafka
from parafka.config import Settings
from parafka.connection import handle as handle_module
from parafka.connection.commits import CommitResult
from parafka.connection.handle import ClientHandle
from parafka.instrumentation import Event, Monitor

OUT_OF_GROUP = json.dumps({"cgrp": {"state": "up", "join_state": "wait-join"}})


class FakeClient:
    """What the handle calls on a client; ``block`` makes ``close()`` hang until set."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls: list[tuple[str, str]] = []
        self.block: threading.Event | None = None

    def close(self) -> None:
        self.calls.append(("close", threading.current_thread().name))
        if self.block is not None:
            self.block.wait(10)


class Setup:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **config: Any) -> None:
        self.clients: list[FakeClient] = []
        self.commits: list[tuple[FakeClient, list[TopicPartition], str]] = []
        self.results: list[tuple[CommitResult, bool]] = []
        self.monitor = Monitor()
        self.events: list[Event] = []
        self.monitor.subscribe("*", self.events.append)

        def build(config: dict[str, Any], where: str) -> FakeClient:
            client = FakeClient(config)
            self.clients.append(client)
            return client

        monkeypatch.setattr(handle_module, "build_client", build)
        # The listener thread: runs the client callbacks the test hands it.
        self.tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.owner = threading.Thread(target=self._serve, name="parafka-listener-test", daemon=True)
        self.owner.start()
        try:
            self.handle = ClientHandle(
                {"group.id": "g", **config},
                "g",
                Settings(close_timeout=0.2, rejoin_timeout=1.0),
                self.monitor,
                owner=self.owner,
                commit=self.commit,
                committed=lambda result, current: self.results.append((result, current)),
            )
        except BaseException:
            self.stop()
            raise

    def commit(self, client: Any, offsets: list[TopicPartition]) -> bool:
        self.commits.append((client, offsets, threading.current_thread().name))
        return True

    def errors(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.name == "error.occurred" and e["type"] == kind]

    def _serve(self) -> None:
        while (task := self.tasks.get()) is not None:
            task()

    def on_owner(self, callback: Any, *args: Any) -> None:
        """Run a client callback on the listener thread and wait for it."""
        done = threading.Event()
        self.tasks.put(lambda: (callback(*args), done.set()))
        assert done.wait(5)

    def stop(self) -> None:
        self.tasks.put(None)
        self.owner.join(5)


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Setup]]:
    made: list[Setup] = []

    def make(**config: Any) -> Setup:
        made.append(Setup(monkeypatch, **config))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def test_the_final_commit_goes_through_the_client_being_closed_on_the_closer_thread(
    setup: Callable[..., Setup],
) -> None:
    s = setup()
    closing = FakeClient({})
    offsets = [TopicPartition("t", 0, 5)]
    s.handle.close(closing, offsets)
    assert s.commits == [(closing, offsets, "parafka-listener-test-close")]
    assert closing.calls == [("close", "parafka-listener-test-close")]
    assert s.clients[0].calls == []  # the current client is left alone


def test_a_close_that_does_not_return_is_abandoned_after_close_timeout(
    setup: Callable[..., Setup],
) -> None:
    s = setup()
    stuck = FakeClient({})
    stuck.block = threading.Event()
    try:
        s.handle.close(stuck, [TopicPartition("t", 0, 5)])
        (event,) = s.errors("listener.close")
        assert isinstance(event["error"], parafka.ClientStuck)
        assert "final commit and close did not return within close_timeout (0.2 s)" in str(
            event["error"]
        )
    finally:
        stuck.block.set()


def test_a_close_that_raises_raises_in_the_caller(setup: Callable[..., Setup]) -> None:
    s = setup()

    class Broken(FakeClient):
        def close(self) -> None:
            raise RuntimeError("close failed")

    with pytest.raises(RuntimeError, match="close failed"):
        s.handle.close(Broken({}), [])


def test_replacing_gives_up_closes_the_old_client_and_makes_a_new_one_current(
    setup: Callable[..., Setup],
) -> None:
    s = setup()
    old = s.handle.client
    given_up: list[Any] = []
    s.handle.replace(given_up.append)
    assert given_up == [old]
    (event,) = s.errors("listener.rejoin")
    assert isinstance(event["error"], parafka.ClientStuck)
    assert len(s.clients) == 2
    assert s.handle.client is s.clients[1]
    assert old.calls == [("close", "parafka-listener-test-close")]


def test_only_the_current_clients_statistics_feed_the_watch(setup: Callable[..., Setup]) -> None:
    seen: list[str] = []
    s = setup(stats_cb=seen.append)
    old_stats = s.clients[0].config["stats_cb"]
    s.handle.replace(lambda old: None)
    old_stats(OUT_OF_GROUP)  # the replaced client, still closing
    assert s.handle.watch.since is None
    assert seen == [OUT_OF_GROUP]  # the user's callback still hears every client
    s.clients[1].config["stats_cb"](OUT_OF_GROUP)
    assert s.handle.watch.since is not None


def test_an_on_commit_is_the_current_clients_only_on_the_listener_thread(
    setup: Callable[..., Setup],
) -> None:
    s = setup()
    first = s.clients[0].config["on_commit"]
    s.on_owner(first, None, [])
    first(None, [])  # on another thread (a closer thread)
    s.handle.replace(lambda old: None)
    s.on_owner(first, None, [])  # a replaced client's, on the listener thread
    s.on_owner(s.clients[1].config["on_commit"], None, [])
    assert [current for _result, current in s.results] == [True, False, False, True]


def test_a_raising_user_on_commit_is_reported_and_the_result_still_read(
    setup: Callable[..., Setup],
) -> None:
    def broken(error: Any, partitions: Any) -> None:
        raise ValueError("user code")

    s = setup(on_commit=broken)
    s.clients[0].config["on_commit"](None, [])
    (event,) = s.errors("listener.on_commit")
    assert isinstance(event["error"], ValueError)
    assert len(s.results) == 1


@pytest.mark.parametrize("key", ["stats_cb", "on_commit"])
def test_a_callback_setting_that_is_not_callable_is_refused(
    setup: Callable[..., Setup], key: str
) -> None:
    with pytest.raises(parafka.ConfigurationError, match=f"'{key}' must be callable"):
        setup(**{key: 3})


def test_a_fenced_member_is_told_to_give_every_process_its_own_id(
    setup: Callable[..., Setup],
) -> None:
    s = setup(**{"group.instance.id": "worker-1"})
    fenced = s.handle.fatal(KafkaError(KafkaError.FENCED_INSTANCE_ID, "fenced", fatal=True))
    assert "group.instance.id 'worker-1'" in str(fenced)
    assert "give every process its own id" in str(fenced)
    other = s.handle.fatal(KafkaError(KafkaError._FATAL, "something else", fatal=True))
    assert "instance.id" not in str(other)
