"""A consumer's produce() reaches its topic with the key, value and headers it gave."""

from __future__ import annotations

import zlib

import parafka
from tests.contract.backends import Backend


def test_produce_from_a_consumer(backend: Backend) -> None:
    topic, audit = backend.topic(partitions=1), backend.topic(partitions=2, base="audit")

    class Forwarder(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                self.produce(
                    audit,
                    value=b"seen " + (message.value or b""),
                    key=message.raw_key,
                    headers={"origin": f"{message.topic}/{message.offset}"},
                )

    app = backend.app()
    app.topic(topic, Forwarder, deserializer=parafka.raw_deserializer)
    backend.start(app)
    backend.produce(topic, [(b"k%d" % (i % 3), b"%d" % i, 0) for i in range(6)])
    backend.wait(lambda: backend.committed(topic, 0) == 6, "offset 6 committed")
    forwarded = backend.produced(audit, 6)
    backend.stop()
    assert sorted((r.value, r.key, r.headers) for r in forwarded) == [
        (b"seen %d" % i, b"k%d" % (i % 3), (("origin", f"{topic}/{i}".encode()),)) for i in range(6)
    ]
    for record in forwarded:  # the key chose the partition, as for any produce
        assert record.partition == zlib.crc32(record.key or b"") % 2
