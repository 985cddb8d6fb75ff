"""A message that keeps failing is retried, in order, then sent to the dead letter queue with
the same headers on both backends; the partition moves on and commits past it."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_retries_then_the_dead_letter_with_its_headers(backend: Backend) -> None:
    topic, dlq = backend.topic(partitions=1), backend.topic(partitions=1, base="dlq")
    seen = Seen()

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                seen.add([message])
                if message.value == b"poison":
                    raise ValueError(f"cannot take offset {message.offset}")

    app = backend.app(max_messages=10)
    app.topic(
        topic,
        Orders,
        deserializer=parafka.raw_deserializer,
        dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=2),
    )
    backend.start(app)
    values = [b"poison" if i == 3 else b"ok-%d" % i for i in range(8)]
    backend.produce(topic, [(b"key-%d" % i, value, 0) for i, value in enumerate(values)])
    backend.wait(lambda: backend.committed(topic, 0) == 8, "offset 8 committed")
    (letter,) = backend.produced(dlq, 1)
    backend.stop()
    assert letter.key == b"key-3"
    assert letter.value == b"poison"
    assert dict(letter.headers) == {
        "parafka-original-topic": topic.encode(),
        "parafka-original-partition": b"0",
        "parafka-original-offset": b"3",
        "parafka-consumer-group": backend.group.encode(),
        "parafka-attempts": b"3",
        "parafka-error-type": b"builtins.ValueError",
        "parafka-error-message": b"cannot take offset 3",
    }
    offsets = seen.offsets(0)
    assert list(dict.fromkeys(offsets)) == list(range(8))  # in order, nothing skipped
    assert offsets.count(3) == 3  # the first run and max_retries=2 retries
    last = len(offsets) - 1 - offsets[::-1].index(3)
    assert offsets[last + 1 :] == [4, 5, 6, 7]  # after the dead letter: the rest, once
