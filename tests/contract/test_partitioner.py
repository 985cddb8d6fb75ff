"""A keyed message goes to the partition librdkafka's default partitioner (consistent_random:
CRC32 of the key) picks: the harness must pick the same one, or tests of per-key ordering and
of which consumer instance sees a key would pass there and fail in production."""

from __future__ import annotations

import zlib

import parafka
from tests.contract.backends import Backend

KEYS = [b"customer-%d" % i for i in range(40)] + [b"a", b"\x00", "ключ".encode(), b"k" * 300]


class Nothing(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def test_keys_go_where_librdkafkas_default_partitioner_puts_them(backend: Backend) -> None:
    topics = {count: backend.topic(partitions=count) for count in (3, 7)}
    app = backend.app()
    app.topic(topics[3], Nothing)
    backend.start(app)
    for count, topic in topics.items():
        placed = [p for p, _offset in backend.produce(topic, [(key, b"v", None) for key in KEYS])]
        assert placed == [zlib.crc32(key) % count for key in KEYS], count
        assert len(set(placed)) == count  # the keys do spread: a constant would not pass
    backend.stop()
