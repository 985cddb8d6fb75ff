"""Each partition reaches consume() in offset order, and the group's committed offset reaches
the end of every partition once its messages are processed."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_each_partition_in_offset_order_then_committed_to_its_end(backend: Backend) -> None:
    topic = backend.topic(partitions=3)
    seen = Seen()

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            seen.add(messages)

    app = backend.app(max_messages=4)
    app.topic(topic, Orders, deserializer=parafka.raw_deserializer)
    backend.start(app)
    written = backend.produce(topic, [(None, b"%d" % i, i % 3) for i in range(60)])
    backend.wait(lambda: seen.count() == 60, "60 messages consumed")
    for partition in range(3):
        expected = [offset for p, offset in written if p == partition]
        assert expected == list(range(20))
        assert seen.offsets(partition) == expected  # in order, each once
    backend.wait(
        lambda: all(backend.committed(topic, p) == 20 for p in range(3)),
        "offset 20 committed on each partition",
    )
    backend.stop()
    assert [backend.committed(topic, p) for p in range(3)] == [20, 20, 20]


def test_nothing_is_committed_for_a_partition_nothing_was_written_to(backend: Backend) -> None:
    topic = backend.topic(partitions=2)
    seen = Seen()

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            seen.add(messages)

    app = backend.app()
    app.topic(topic, Orders, deserializer=parafka.raw_deserializer)
    backend.start(app)
    backend.produce(topic, [(None, b"x", 1)])
    backend.wait(lambda: backend.committed(topic, 1) == 1, "offset 1 committed on partition 1")
    backend.stop()
    assert backend.committed(topic, 0) is None
    assert seen.offsets(1) == [0]
