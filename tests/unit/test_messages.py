"""Messages is a lazy sequence; payloads are deserialized on access, raw bytes stay reachable."""

from __future__ import annotations

import re

import pytest

import parafka
from parafka.errors import DeserializationError
from parafka.messages import Message

from .fakes import FakeMessage


def batch(values: list[bytes | None]) -> parafka.Messages:
    raw = [FakeMessage(i, 2, "orders", value) for i, value in enumerate(values)]
    return parafka.Messages(raw, parafka.json_deserializer, "orders", 2)


def test_len_iteration_indexing_and_slicing() -> None:
    messages = batch([b'{"a": 1}', b'{"a": 2}', b'{"a": 3}'])
    assert len(messages) == 3
    assert [m.offset for m in messages] == [0, 1, 2]
    assert messages[-1].payload == {"a": 3}
    assert [m.offset for m in messages[1:]] == [1, 2]
    assert (messages.first_offset, messages.last_offset) == (0, 2)
    assert messages.payloads() == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_fields_of_a_message() -> None:
    raw = FakeMessage(7, 1, "t", b"v", key=b"k", headers=[("h", b"1")])
    message = Message(raw, parafka.raw_deserializer)  # type: ignore[arg-type]
    assert (message.topic, message.partition, message.offset) == ("t", 1, 7)
    assert (message.key, message.value, message.payload) == (b"k", b"v", b"v")
    assert message.headers == [("h", b"1")]
    assert message.timestamp == 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "the value is not JSON"),
        (b"\xff\xfe", "the value is not UTF-8"),
        (b"", "the value is empty"),
        (None, "the value is None (a tombstone)"),
    ],
)
def test_bad_values_raise_on_access_and_keep_the_raw_bytes(
    value: bytes | None, reason: str
) -> None:
    message = batch([b"{}", value])[1]
    with pytest.raises(DeserializationError, match=re.escape(reason)) as info:
        _ = message.payload
    assert "(orders/2 offset 1)" in str(info.value)
    assert message.value == value
    assert batch([b"{}"])[0].payload == {}


def test_the_deserializer_runs_once_per_message() -> None:
    calls: list[int] = []

    def counting(message: Message) -> int:
        calls.append(message.offset)
        return message.offset

    raw = [FakeMessage(i) for i in range(3)]
    messages = parafka.Messages(raw, counting, "t", 0)  # type: ignore[arg-type]
    assert calls == []  # nothing is deserialized before it is asked for
    first = messages[0]
    assert (first.payload, first.payload) == (0, 0)
    assert calls == [0]
