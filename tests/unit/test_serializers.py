"""Serializers for ``Consumer.produce()``: bytes and str pass as before, other values need a
serializer, and whatever cannot be sent raises SerializationError before anything is produced."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pytest

import parafka
from parafka.serializers import serialize, serialize_headers


class Sent:
    """Stands in for the app's shared producer: records what would be sent."""

    def __init__(self) -> None:
        self.sends: list[tuple[Any, ...]] = []

    def send(self, topic: str, value: Any, key: Any, headers: Any, timeout: float) -> None:
        self.sends.append((topic, value, key, headers))

    async def send_async(self, topic: str, value: Any, key: Any, headers: Any) -> None:
        self.sends.append((topic, value, key, headers))


class Producing(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def consumer() -> tuple[Producing, Sent]:
    instance, sent = Producing(), Sent()
    instance._parafka_producer = sent  # type: ignore[assignment]
    return instance, sent


# -- the serializers -----------------------------------------------------------------------------


def test_json_serializer_is_compact_utf8_and_keeps_none() -> None:
    assert parafka.json_serializer({"id": 1, "name": "Grüße"}) == '{"id":1,"name":"Grüße"}'.encode()
    assert parafka.json_serializer([1, None, True]) == b"[1,null,true]"
    assert parafka.json_serializer(None) is None


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"at": datetime.date(2024, 1, 2)}, "date is not JSON serializable"),
        ({1, 2}, "cannot encode a set"),
        (b"raw", "cannot encode a bytes"),
        (float("nan"), "Out of range float values are not JSON compliant"),
        ({"bad": "\ud800"}, "cannot encode it as UTF-8"),
    ],
)
def test_json_serializer_names_what_json_cannot_hold(value: Any, named: str) -> None:
    with pytest.raises(parafka.SerializationError, match=named) as info:
        parafka.json_serializer(value)
    assert isinstance(info.value, TypeError)  # a wrong value type, catchable as such too


def test_string_and_bytes_serializers() -> None:
    assert parafka.string_serializer("ä") == "ä".encode()
    assert parafka.string_serializer(None) is None
    with pytest.raises(parafka.SerializationError, match="string_serializer takes a str, got int"):
        parafka.string_serializer(1)
    assert parafka.bytes_serializer(bytearray(b"ab")) == b"ab"
    assert parafka.bytes_serializer(memoryview(b"cd")) == b"cd"
    assert parafka.bytes_serializer(None) is None
    with pytest.raises(parafka.SerializationError, match="bytes_serializer takes bytes, got str"):
        parafka.bytes_serializer("text")


def test_without_a_serializer_bytes_str_and_none_pass() -> None:
    assert serialize(b"v", None, "value") == b"v"
    assert serialize("v", None, "value") == b"v"
    assert serialize(None, None, "key") is None
    assert serialize(bytearray(b"v"), None, "value") == b"v"


# -- produce() -----------------------------------------------------------------------------------


def test_produce_without_serializers_sends_what_it_sent_before() -> None:
    instance, sent = consumer()
    instance.produce("out", b"v", b"k", [("h", b"1")])
    instance.produce("out", value="text", key="key", headers=[("h", "ü"), ("n", None)])
    instance.produce("out")  # a tombstone without a key
    assert sent.sends == [
        ("out", b"v", b"k", [("h", b"1")]),
        ("out", b"text", b"key", [("h", "ü".encode()), ("n", None)]),
        ("out", None, None, None),
    ]


def test_produce_with_serializers() -> None:
    instance, sent = consumer()
    instance.produce(
        "out",
        {"id": 1},
        {"tenant": "a"},
        {"trace": "t-1"},
        serializer=parafka.json_serializer,
        key_serializer=parafka.json_serializer,
    )
    assert sent.sends == [("out", b'{"id":1}', b'{"tenant":"a"}', [("trace", b"t-1")])]


def test_produce_async_serializes_the_same_way() -> None:
    instance, sent = consumer()
    asyncio.run(instance.produce_async("out", {"id": 2}, "k", serializer=parafka.json_serializer))
    assert sent.sends == [("out", b'{"id":2}', b"k", None)]
    with pytest.raises(parafka.SerializationError, match=r"serializer=parafka\.json_serializer"):
        asyncio.run(instance.produce_async("out", {"id": 3}))
    assert len(sent.sends) == 1


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (
            {"value": {"id": 1}},
            "produce() cannot send a dict as the value: it takes bytes, str or None; "
            "pass serializer=parafka.json_serializer (or encode it yourself)",
        ),
        ({"value": b"v", "key": 42}, "cannot send an int as the key"),
        ({"value": b"v", "key": 42}, "pass key_serializer=parafka.json_serializer"),
        ({"value": b"v", "headers": [("n", 1)]}, "header 'n' has a value of type int"),
        ({"value": b"v", "headers": {"n": {"a": 1}}}, "header 'n' has a value of type dict"),
        ({"value": b"v", "headers": [(1, b"x")]}, "header #0 has a name of type int"),
        ({"value": b"v", "headers": [("a", b"1"), "b"]}, "header #1 must be a (name, value) pair"),
        ({"value": b"v", "headers": "a=1"}, "headers must be (name, value) pairs or a mapping"),
        ({"value": b"v", "headers": [("s", "\udc80")]}, "header 's' has a str value that is not"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_anything_is_produced(
    call: dict[str, Any], named: str
) -> None:
    instance, sent = consumer()
    with pytest.raises(parafka.SerializationError) as info:
        instance.produce("out", **call)
    assert named in str(info.value)
    assert sent.sends == []


def test_a_serializer_returning_something_else_than_bytes_is_named() -> None:
    def to_text(value: Any) -> Any:
        return json.dumps(value)  # forgot .encode()

    instance, sent = consumer()
    with pytest.raises(parafka.SerializationError) as info:
        instance.produce("out", {"id": 1}, serializer=to_text)
    assert str(info.value) == (
        f"the value serializer {__name__}.{to_text.__qualname__} returned a str; "
        "a serializer must return bytes or None"
    )
    with pytest.raises(parafka.SerializationError, match=r"the key serializer .* returned an int"):
        instance.produce("out", b"v", "k", key_serializer=len)
    assert sent.sends == []


def test_a_raising_serializer_is_named_with_its_error() -> None:
    def strict(value: Any) -> bytes:
        raise ValueError("negative totals are not allowed")

    instance, sent = consumer()
    with pytest.raises(parafka.SerializationError) as info:
        instance.produce("out", {"total": -1}, serializer=strict)
    assert "the value serializer" in str(info.value)
    assert "strict raised ValueError for a dict: negative totals are not allowed" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert sent.sends == []


def test_a_serializer_that_is_not_callable_is_named() -> None:
    instance, sent = consumer()
    with pytest.raises(parafka.SerializationError, match="key_serializer must be callable"):
        instance.produce("out", b"v", {"k": 1}, key_serializer="json")  # type: ignore[arg-type]
    assert sent.sends == []


def test_a_bad_key_stops_a_good_value_too() -> None:
    """Everything is checked before the producer is called: no half-sent message."""
    instance, sent = consumer()
    with pytest.raises(parafka.SerializationError, match="as the key"):
        instance.produce("out", {"id": 1}, object(), serializer=parafka.json_serializer)
    assert sent.sends == []


def test_headers_may_be_a_mapping() -> None:
    assert serialize_headers({"a": "1", "b": None, "c": bytearray(b"3")}) == [
        ("a", b"1"),
        ("b", None),
        ("c", b"3"),
    ]
    assert serialize_headers(None) is None
    assert serialize_headers([]) == []
