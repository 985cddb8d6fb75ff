"""Message builders: a :class:`parafka.Message` or a :class:`parafka.Messages` batch made from
plain values, for unit tests that call one ``consume()`` (or a partitioner, a deserializer)
without any cluster. :meth:`parafka.testing.Harness.message` and ``.messages`` build them with
a route's deserializers.

Pure functions: no state, any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import confluent_kafka

from parafka.deserializers import headers_raw_deserializer, key_raw_deserializer
from parafka.messages import Deserializer, Deserializers, Message, Messages, json_deserializer
from parafka.serializers import Headers, Serializer, serialize, serialize_headers
from parafka.testing.cluster import EPOCH_MS

__all__ = ["message", "messages", "raw_message"]


def raw_message(
    value: Any = None,
    key: Any = None,
    *,
    topic: str = "test",
    partition: int = 0,
    offset: int = 0,
    headers: Headers | None = None,
    timestamp_ms: int = EPOCH_MS,
    serializer: Serializer | None = None,
    key_serializer: Serializer | None = None,
) -> confluent_kafka.Message:
    """A ``confluent_kafka.Message`` as a fetch returns it. ``value`` and ``key`` are encoded
    as ``Consumer.produce`` encodes them: bytes and None as they are, str as UTF-8, anything
    else through ``serializer`` / ``key_serializer`` (e.g. ``parafka.json_serializer``)."""
    headers_bytes: list[tuple[str, str | bytes | None]] | None = None
    checked = serialize_headers(headers)
    if checked is not None:
        headers_bytes = list(checked)
    return confluent_kafka.Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=serialize(key, key_serializer, "key"),
        value=serialize(value, serializer, "value"),
        headers=headers_bytes,
        timestamp=(confluent_kafka.TIMESTAMP_CREATE_TIME, timestamp_ms),
    )


def message(
    value: Any = None,
    key: Any = None,
    *,
    topic: str = "test",
    partition: int = 0,
    offset: int = 0,
    headers: Headers | None = None,
    timestamp_ms: int = EPOCH_MS,
    serializer: Serializer | None = None,
    key_serializer: Serializer | None = None,
    deserializer: Deserializer[Any] | Deserializers[Any] = json_deserializer,
) -> Message[Any]:
    """One :class:`parafka.Message`; ``deserializer`` (default JSON) or a route's
    ``Deserializers`` makes its payload, as in a running app::

        order = message(b'{"id": 1}', key=b"customer-7", topic="orders")
        assert order.payload == {"id": 1}
    """
    raw = raw_message(
        value,
        key,
        topic=topic,
        partition=partition,
        offset=offset,
        headers=headers,
        timestamp_ms=timestamp_ms,
        serializer=serializer,
        key_serializer=key_serializer,
    )
    return Message(raw, _bundle(deserializer))


def messages(
    values: Iterable[Any],
    *,
    key: Any = None,
    topic: str = "test",
    partition: int = 0,
    first_offset: int = 0,
    headers: Headers | None = None,
    serializer: Serializer | None = None,
    key_serializer: Serializer | None = None,
    deserializer: Deserializer[Any] | Deserializers[Any] = json_deserializer,
) -> Messages[Any]:
    """A batch as ``consume()`` receives it: one message per value, at consecutive offsets
    from ``first_offset``. A value may be a ``(key, value)`` tuple to give each its own key::

        batch = messages([b'{"id": 1}', (b"c-2", b'{"id": 2}')], topic="orders")
        Orders().consume(batch)
    """
    raws = []
    for index, item in enumerate(values):
        item_key, item_value = item if isinstance(item, tuple) else (key, item)
        raws.append(
            raw_message(
                item_value,
                item_key,
                topic=topic,
                partition=partition,
                offset=first_offset + index,
                headers=headers,
                serializer=serializer,
                key_serializer=key_serializer,
            )
        )
    return Messages(raws, _bundle(deserializer), topic, partition)


def _bundle(deserializer: Deserializer[Any] | Deserializers[Any]) -> Deserializers[Any]:
    if isinstance(deserializer, Deserializers):
        return deserializer
    return Deserializers(deserializer, key_raw_deserializer, headers_raw_deserializer)
