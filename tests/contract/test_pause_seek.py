"""A consumer's pause (fetching again from the offset after the timeout) and seek (a seek
back replays from there)."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_a_pause_holds_the_partition_then_it_goes_on_from_the_offset(backend: Backend) -> None:
    topic = backend.topic(partitions=1)
    seen = Seen()

    class Pauser(parafka.Consumer):
        paused = False

        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == 4 and not Pauser.paused:
                    Pauser.paused = True
                    self.pause(message.offset, timeout=0.3)
                    return
                seen.add([message])

    app = backend.app(max_messages=10)
    app.topic(topic, Pauser, deserializer=parafka.raw_deserializer)
    backend.start(app)
    backend.produce(topic, [(None, b"%d" % i, 0) for i in range(10)])
    backend.wait(lambda: seen.count() == 10, "10 messages processed")
    assert seen.offsets(0) == list(range(10))  # 4 again after the pause, nothing twice
    backend.wait(lambda: backend.committed(topic, 0) == 10, "offset 10 committed")
    backend.stop()


def test_a_seek_back_replays_from_there(backend: Backend) -> None:
    topic = backend.topic(partitions=1)
    seen = Seen()

    class Seeker(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                seen.add([message])
                if message.offset == 5 and seen.offsets(0).count(5) == 1:
                    self.seek(2)
                    return

    app = backend.app(max_messages=10)
    app.topic(topic, Seeker, deserializer=parafka.raw_deserializer)
    backend.start(app)
    backend.produce(topic, [(None, b"%d" % i, 0) for i in range(8)])
    backend.wait(lambda: seen.count() == 12, "12 deliveries")
    assert seen.offsets(0) == [0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7]
    backend.wait(lambda: backend.committed(topic, 0) == 8, "offset 8 committed")
    backend.stop()
    assert seen.count() == 12  # nothing more came
