"""Transactions leave offsets no consumer is given (control records, aborted records): the
consumer sees the committed transactions' messages only, and the committed offset still
reaches the partition's end."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_gaps_left_by_transactions_are_passed_and_committed_over(backend: Backend) -> None:
    topic = backend.topic(partitions=1)
    seen = Seen()

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            seen.add(messages)

    app = backend.app()
    app.topic(topic, Orders, deserializer=parafka.raw_deserializer)
    backend.start(app)
    backend.produce_transaction(topic, [b"a", b"b"], abort=False)  # offsets 0-1, marker 2
    backend.produce(topic, [(None, b"c", 0)])  # offset 3
    backend.produce_transaction(topic, [b"x"], abort=True)  # offset 4 aborted, marker 5
    backend.wait(lambda: seen.count() == 3, "3 messages consumed")
    assert [(offset, value) for _p, offset, _k, value in seen.messages] == [
        (0, b"a"),
        (1, b"b"),
        (3, b"c"),
    ]
    backend.wait(lambda: backend.committed(topic, 0) == 6, "offset 6 committed")
    backend.stop()
    assert backend.committed(topic, 0) == 6
