"""With virtual partitions, each key's messages reach consume() in the order written, lanes
run apart, and the commit reaches the partition's end."""

from __future__ import annotations

import parafka
from tests.contract.backends import Backend
from tests.contract.recording import Seen


def test_virtual_partitions_keep_each_keys_order(backend: Backend) -> None:
    topic = backend.topic(partitions=1)
    seen = Seen()

    class Clicks(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            seen.add(messages)
            for message in messages:
                seen.note(id(self), message.raw_key)

    app = backend.app(max_messages=5)
    app.topic(
        topic,
        Clicks,
        deserializer=parafka.raw_deserializer,
        virtual_partitions=parafka.VirtualPartitions(
            partitioner=lambda message: message.key, max_partitions=4
        ),
    )
    backend.start(app)
    keys = [b"user-%d" % (i % 6) for i in range(60)]
    backend.produce(topic, [(key, b"%d" % i, 0) for i, key in enumerate(keys)])
    backend.wait(lambda: seen.count() == 60, "60 messages consumed")
    for user in range(6):
        values = seen.values(b"user-%d" % user)
        assert values == [b"%d" % i for i in range(user, 60, 6)]
    owners: dict[object, set[object]] = {}
    for instance, key in seen.notes:
        owners.setdefault(key, set()).add(instance)
    assert all(len(instances) == 1 for instances in owners.values())  # one lane per key
    assert len({i for instances in owners.values() for i in instances}) > 1  # lanes, not one
    backend.wait(lambda: backend.committed(topic, 0) == 60, "offset 60 committed")
    backend.stop()
    assert backend.committed(topic, 0) == 60
