"""The listener hands a fetch to its coordinators in the order that keeps the promises: the
messages of a partition before that partition's end-of-partition event (issue 13, item 11)."""

from __future__ import annotations

from typing import Any, ClassVar

from confluent_kafka import KafkaError, TopicPartition

import parafka
from parafka.connection.listener import Listener
from parafka.processing.jobs import ConsumeJob, HookJob

from .fakes import FakeMessage

BOOT = {"bootstrap.servers": "127.0.0.1:9"}  # never connected: the test drives callbacks


class EndOfPartition(FakeMessage):
    """What librdkafka returns in a fetch when a partition's end is reached."""

    def error(self) -> Any:
        return KafkaError(KafkaError._PARTITION_EOF)


class Ends(parafka.Consumer):
    calls: ClassVar[list[str]] = []

    def consume(self, messages: parafka.Messages) -> None:
        Ends.calls.extend("consume" for _ in messages)

    def eofed(self) -> None:
        Ends.calls.append("eofed")


def _listener(app: parafka.App) -> Listener:
    """The listener of the app's one subscription group, never started: the test drives it."""
    (group,) = app.subscription_groups()
    return Listener(
        group,
        app.kafka,
        app.settings,
        app.workers.jobs,
        app.monitor,
        lambda exc: None,
        thread_name="parafka-listener-test",
    )


def test_eofed_waits_for_the_messages_of_the_same_fetch() -> None:
    app = parafka.App(kafka=BOOT, log_events=False)
    app.topic("t", Ends, deserializer=parafka.raw_deserializer)
    listener = _listener(app)
    client: Any = listener._handle.client
    try:
        listener._rebalance.on_assign(client, [TopicPartition("t", 0)])
        fetch: list[Any] = [FakeMessage(offset, topic="t") for offset in range(3)]
        fetch.append(EndOfPartition(3, topic="t"))
        listener._dispatch(fetch)
        queued = []
        while len(app.workers.jobs):
            job = app.workers.jobs.get()
            assert isinstance(job, ConsumeJob | HookJob)
            queued.append(job)
        assert [type(job) for job in queued] == [ConsumeJob]  # no eofed() before the batch
        Ends.calls = []
        pending: list[Any] = list(queued)
        while pending:
            pending.extend(pending.pop(0).run())
        assert Ends.calls == ["consume", "consume", "consume", "eofed"]
    finally:
        listener.discard()


class Quiet(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        return None


def test_a_partition_paused_for_back_pressure_wakes_the_listener_only_once_it_may_resume() -> None:
    # max_backlog 3: a fetch of 10 leaves 8 queued (2 in flight), the partition pauses and may
    # resume at 1 queued. Each finished batch is recorded (_dirty), but the listener, asleep
    # with every partition paused, is woken only by the batch that drains the backlog to 1.
    app = parafka.App(kafka=BOOT, log_events=False, max_messages=2, max_backlog=3)
    app.topic("t", Quiet, deserializer=parafka.raw_deserializer)
    listener = _listener(app)
    client: Any = listener._handle.client
    try:
        listener._rebalance.on_assign(client, [TopicPartition("t", 0)])
        listener._dispatch([FakeMessage(offset, topic="t") for offset in range(10)])
        assert ("t", 0) in listener._flow.paused
        coordinator = listener._coordinators[("t", 0)]
        assert coordinator.resume_at == 1
        job = app.workers.jobs.get()
        seen = []  # (queued after the batch finished, whether the listener was woken)
        while isinstance(job, ConsumeJob):
            listener._wake.clear()
            following = job.run()
            seen.append((coordinator.backlog_size, listener._wake.is_set()))
            assert listener._dirty.qsize() > 0  # recorded either way: served on the next turn
            job = following[0] if following else None
        assert seen == [(6, False), (4, False), (2, False), (0, True), (0, True)]
        listener._serve_dirty()
        assert ("t", 0) not in listener._flow.paused  # resumed, and every change wakes again
        assert coordinator.resume_at > 10**9
    finally:
        listener.discard()
