"""A rebalance: the app stops mid-stream (shutdown() hooks, the final commit) and a second app
joins the same consumer group; it takes every partition and goes on from the committed offsets:
nothing is lost, nothing is processed twice."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_a_second_app_in_the_group_goes_on_where_the_first_stopped(backend: Backend) -> None:
    topic = backend.topic(partitions=2)
    seen = Seen()

    def make_app(name: str) -> parafka.App:
        class Orders(parafka.Consumer):
            def consume(self, messages: parafka.Messages) -> None:
                seen.add(messages)
                seen.note(name, "consume", self.partition)

            def revoked(self) -> None:
                seen.note(name, "revoked", self.partition)

            def shutdown(self) -> None:
                seen.note(name, "shutdown", self.partition)

        app = backend.app(max_messages=5)
        app.topic(topic, Orders, deserializer=parafka.raw_deserializer)
        return app

    backend.start(make_app("first"))
    backend.produce(topic, [(None, b"%d" % i, i % 2) for i in range(20)])
    backend.wait(lambda: seen.count() == 20, "the first 20 messages consumed")
    backend.stop()
    hooks = sorted(note for note in seen.notes if note[1] != "consume")
    assert hooks == [("first", "shutdown", 0), ("first", "shutdown", 1)]
    assert [backend.committed(topic, p) for p in (0, 1)] == [10, 10]

    backend.start(make_app("second"))
    backend.produce(topic, [(None, b"%d" % i, i % 2) for i in range(20, 40)])
    backend.wait(lambda: seen.count() == 40, "the next 20 messages consumed")
    for partition in (0, 1):
        assert seen.offsets(partition) == list(range(20))  # each once, in order
    second = {note[2] for note in seen.notes if note[:2] == ("second", "consume")}
    assert second == {0, 1}  # the second app took both partitions
    backend.wait(
        lambda: [backend.committed(topic, p) for p in (0, 1)] == [20, 20], "offset 20 committed"
    )
    backend.stop()
    assert sorted(note for note in seen.notes if note[1] != "consume") == [
        ("first", "shutdown", 0),
        ("first", "shutdown", 1),
        ("second", "shutdown", 0),
        ("second", "shutdown", 1),
    ]
