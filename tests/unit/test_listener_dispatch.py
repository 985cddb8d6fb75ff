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


def test_eofed_waits_for_the_messages_of_the_same_fetch() -> None:
    app = parafka.App(kafka=BOOT, log_events=False)
    app.topic("t", Ends, deserializer=parafka.raw_deserializer)
    (group,) = app.subscription_groups()
    listener = Listener(
        group,
        app.kafka,
        app.settings,
        app.workers.jobs,
        app.monitor,
        lambda exc: None,
        thread_name="parafka-listener-test",
    )
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
