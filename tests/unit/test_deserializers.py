"""Key and headers deserializers per route: the defaults change nothing, the raw data stays
reachable, bad input raises DeserializationError naming the part, bad configuration is refused
naming the parameter."""

from __future__ import annotations

import re
from typing import Any

import pytest

import parafka
from parafka.cli.info import describe
from parafka.config import Settings
from parafka.errors import DeserializationError
from parafka.instrumentation import Monitor
from parafka.messages import Deserializers, Message
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import Job
from parafka.routing import Route

from .fakes import FakeMessage

BOOT = {"bootstrap.servers": "127.0.0.1:1"}


def message(
    value: bytes | None = b"{}",
    key: bytes | None = None,
    headers: list[tuple[str, bytes | None]] | None = None,
    *,
    deserializer: parafka.Deserializer[Any] = parafka.json_deserializer,
    **deserializers: Any,
) -> Message[Any]:
    raw = FakeMessage(5, 1, "orders", value, key=key, headers=headers)  # type: ignore[arg-type]
    return Message(raw, deserializer, **deserializers)  # type: ignore[arg-type]


# -- the defaults --------------------------------------------------------------------------------


def test_by_default_key_and_headers_are_the_raw_ones() -> None:
    m = message(b'{"a": 1}', b"k-1", [("trace", b"t1"), ("trace", b"t2"), ("empty", None)])
    assert m.key == m.raw_key == b"k-1"
    assert m.headers == m.raw_headers == [("trace", b"t1"), ("trace", b"t2"), ("empty", None)]
    assert m.payload == {"a": 1}
    bare = message(key=None, headers=None)
    assert (bare.key, bare.headers, bare.raw_key, bare.raw_headers) == (None, [], None, [])


def test_routes_default_to_the_raw_key_and_headers() -> None:
    app = parafka.App(kafka=BOOT)
    route = app.topic("orders", Noop)
    assert route.key_deserializer is parafka.key_raw_deserializer
    assert route.headers_deserializer is parafka.headers_raw_deserializer
    assert route.deserializers == Deserializers(
        parafka.json_deserializer, parafka.key_raw_deserializer, parafka.headers_raw_deserializer
    )


# -- the ready-made deserializers ----------------------------------------------------------------


def test_string_deserializer_decodes_utf8_and_refuses_tombstones() -> None:
    assert message("grüße".encode(), deserializer=parafka.string_deserializer).payload == "grüße"
    assert message(b"", deserializer=parafka.string_deserializer).payload == ""
    with pytest.raises(DeserializationError, match=re.escape("the value is None (a tombstone)")):
        _ = message(None, deserializer=parafka.string_deserializer).payload
    bad = message(b"\xff", deserializer=parafka.string_deserializer)
    with pytest.raises(DeserializationError, match="the value is not UTF-8") as info:
        _ = bad.payload
    assert info.value.part == "value"
    assert str(info.value).startswith("cannot deserialize the message (orders/1 offset 5)")
    assert bad.value == b"\xff"


def test_key_string_deserializer() -> None:
    string = parafka.key_string_deserializer
    assert message(key="kö".encode(), key_deserializer=string).key == "kö"
    assert message(key=None, key_deserializer=string).key is None
    bad = message(b'{"n": 1}', key=b"\xc3(", key_deserializer=string)
    with pytest.raises(DeserializationError) as info:
        _ = bad.key
    assert info.value.part == "key"
    assert str(info.value).startswith(
        "cannot deserialize the key of the message (orders/1 offset 5): the key is not UTF-8"
    )
    assert bad.raw_key == b"\xc3("  # the raw key stays reachable, and so does the rest
    assert bad.payload == {"n": 1}


@pytest.mark.parametrize(
    ("key", "reason"),
    [(b"", "the key is empty"), (b"{", "the key is not JSON"), (b"\xff", "the key is not UTF-8")],
)
def test_key_json_deserializer(key: bytes, reason: str) -> None:
    as_json = parafka.key_json_deserializer
    assert message(key=b'{"user": 7}', key_deserializer=as_json).key == {"user": 7}
    assert message(key=None, key_deserializer=as_json).key is None
    with pytest.raises(DeserializationError, match=reason) as info:
        _ = message(key=key, key_deserializer=as_json).key
    assert info.value.part == "key"


def test_headers_dict_deserializer_decodes_and_the_last_value_wins() -> None:
    headers = [("a", b"1"), ("b", None), ("a", "zwölf".encode())]
    m = message(headers=headers, headers_deserializer=parafka.headers_dict_deserializer)
    assert m.headers == {"a": "zwölf", "b": None}
    assert m.raw_headers == headers
    assert message(headers_deserializer=parafka.headers_dict_deserializer).headers == {}


def test_a_header_that_is_not_utf8_is_named() -> None:
    m = message(
        headers=[("ok", b"1"), ("trace-id", b"\xfe\xff")],
        headers_deserializer=parafka.headers_dict_deserializer,
    )
    with pytest.raises(DeserializationError, match="the value of header 'trace-id' is not UTF-8"):
        _ = m.headers
    assert m.raw_headers == [("ok", b"1"), ("trace-id", b"\xfe\xff")]


# -- user deserializers: memoized, errors raised on each access, wrapped naming the part ---------


def test_key_and_headers_deserializers_run_once_per_message() -> None:
    calls: list[str] = []

    def key(m: Message[Any]) -> str:
        calls.append("key")
        return "K"

    def headers(m: Message[Any]) -> int:
        calls.append("headers")
        return len(m.raw_headers)

    m = message(key=b"k", headers=[("h", b"1")], key_deserializer=key, headers_deserializer=headers)
    assert calls == []  # nothing before it is asked for
    assert (m.key, m.key, m.headers, m.headers) == ("K", "K", 1, 1)
    assert calls == ["key", "headers"]


@pytest.mark.parametrize("part", ["key", "headers"])
def test_a_failing_deserializer_is_wrapped_naming_the_part_and_raised_on_each_access(
    part: str,
) -> None:
    calls: list[int] = []

    def broken(m: Message[Any]) -> Any:
        calls.append(m.offset)
        raise ValueError("no such tenant")

    m = message(b'{"n": 1}', key=b"k", **{f"{part}_deserializer": broken})
    for _ in range(2):
        with pytest.raises(DeserializationError) as info:
            getattr(m, part)
        assert info.value.part == part
        assert isinstance(info.value.__cause__, ValueError)
        assert str(info.value) == (
            f"cannot deserialize the {part} of the message (orders/1 offset 5): the {part} "
            f"deserializer {broken.__qualname__} raised ValueError: no such tenant"
        )
    assert calls == [5, 5]  # not memoized: the next access tries again
    assert m.payload == {"n": 1}  # the other parts are unaffected
    assert m.raw_key == b"k"


def test_a_deserialization_error_from_a_key_deserializer_is_not_wrapped_again() -> None:
    def strict(m: Message[Any]) -> bytes:
        raise DeserializationError(m, "keys must be 16 bytes", part="key")

    with pytest.raises(DeserializationError) as info:
        _ = message(key=b"k", key_deserializer=strict).key
    assert info.value.reason == "keys must be 16 bytes"
    assert info.value.__cause__ is None


def test_the_value_deserializer_errors_are_raised_as_before() -> None:
    """The payload keeps its behaviour: what a value deserializer raises is raised as is."""

    def broken(m: Message[Any]) -> Any:
        raise KeyError("x")

    with pytest.raises(KeyError):
        _ = message(deserializer=broken).payload


def test_messages_pass_the_key_and_headers_deserializers_to_each_message() -> None:
    raw = [FakeMessage(i, 0, "t", b"{}", key=b"%d" % i, headers=[("h", b"v")]) for i in range(3)]
    batch = parafka.Messages(
        raw,
        parafka.json_deserializer,
        "t",
        0,
        key_deserializer=parafka.key_string_deserializer,
        headers_deserializer=parafka.headers_dict_deserializer,
    )
    assert [m.key for m in batch] == ["0", "1", "2"]
    assert batch[1].headers == {"h": "v"}
    assert [m.raw_key for m in batch[1:]] == [b"1", b"2"]
    positional = parafka.Messages(raw, parafka.raw_deserializer, "t", 0, 10)
    assert positional.metadata.high_watermark == 10
    assert [m.key for m in positional] == [b"0", b"1", b"2"]


def test_a_bundle_and_separate_deserializers_cannot_be_mixed() -> None:
    bundle = Deserializers(parafka.json_deserializer)
    with pytest.raises(TypeError, match="not beside it"):
        Message(FakeMessage(0), bundle, key_deserializer=parafka.key_string_deserializer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not beside it"):
        parafka.Messages([], bundle, "t", 0, headers_deserializer=parafka.headers_dict_deserializer)


# -- through the engine: consume() and the partitioner see the route's deserializers -------------


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class Seen(parafka.Consumer):
    keys: list[Any] = []  # noqa: RUF012
    headers: list[Any] = []  # noqa: RUF012

    def consume(self, messages: parafka.Messages) -> None:
        for m in messages:
            Seen.keys.append(m.key)
            Seen.headers.append(m.headers)


def coordinator(route: Route) -> Coordinator:
    return Coordinator(
        route,
        0,
        Settings(concurrency=2, max_messages=10, pause_timeout=1.0, pause_max_timeout=2.0),
        Monitor(),
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=lambda: 0.0,
    )


def run_all(jobs: list[Job]) -> None:
    pending = list(jobs)
    while pending:
        pending.extend(pending.pop(0).run())


@pytest.mark.parametrize("virtual", [False, True])
def test_consume_and_the_partitioner_get_the_routes_deserializers(virtual: bool) -> None:
    Seen.keys, Seen.headers = [], []
    partitioned: list[Any] = []

    def partitioner(m: Message[Any]) -> Any:
        partitioned.append(m.key)
        return m.key

    vp = parafka.VirtualPartitions(partitioner=partitioner, max_partitions=2) if virtual else None
    route = Route(
        topic="t",
        consumer=Seen,
        group_id="g",
        subscription_group="default",
        key_deserializer=parafka.key_string_deserializer,
        headers_deserializer=parafka.headers_dict_deserializer,
        virtual_partitions=vp,
    )
    raw = [FakeMessage(i, key=b"k%d" % (i % 2), headers=[("n", b"%d" % i)]) for i in range(4)]
    run_all(coordinator(route).fetched(raw))
    assert sorted(Seen.keys) == ["k0", "k0", "k1", "k1"]
    assert sorted(h["n"] for h in Seen.headers) == ["0", "1", "2", "3"]
    assert partitioned == (["k0", "k1", "k0", "k1"] if virtual else [])


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("parameter", ["deserializer", "key_deserializer", "headers_deserializer"])
@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("utf-8", "must be callable (message -> result), got str 'utf-8'"),
        (None, "must be callable, got None (leave it out for the "),
        (lambda: None, "is called with one argument (the message), but"),
        (lambda a, b: None, "is called with one argument (the message), but"),
    ],
)
def test_a_deserializer_that_cannot_be_called_with_the_message_is_refused(
    parameter: str, given: Any, message: str
) -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError) as info:
        app.topic("orders", Noop, **{parameter: given})
    assert str(info.value).startswith(f"topic 'orders': {parameter} ")
    assert message in str(info.value)
    with pytest.raises(parafka.ConfigurationError, match=f"topic 'audit-x': {parameter} "):
        app.consumer_group("audit").topic("audit-x", Noop, **{parameter: given})
    assert app.routes == []


def test_callables_that_take_the_message_are_accepted() -> None:
    class Parser:
        def __call__(self, message: Message[Any], strict: bool = True) -> Any:
            return message.value

    app = parafka.App(kafka=BOOT)
    app.topic("a", Noop, deserializer=Parser(), key_deserializer=repr)
    app.topic("b", Noop, headers_deserializer=lambda m, *rest: m.raw_headers)
    assert len(app.routes) == 2


def test_a_pydantic_model_class_as_deserializer_says_what_to_pass_instead() -> None:
    class Order:  # stands for a pydantic model: the check is by its model_validate_json
        @classmethod
        def model_validate_json(cls, data: bytes) -> Order:
            return cls()

    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError) as info:
        app.topic("orders", Noop, deserializer=Order)  # type: ignore[arg-type]
    assert "parafka.pydantic.model_deserializer(" in str(info.value)


# -- parafka info --------------------------------------------------------------------------------


def test_info_names_the_key_and_headers_deserializers_when_they_are_not_the_defaults() -> None:
    def tenant(m: Message[Any]) -> str:
        return "t"

    app = parafka.App(kafka=BOOT, group_id="shop")
    app.topic("plain", Noop)
    app.topic(
        "typed",
        Noop,
        deserializer=parafka.string_deserializer,
        key_deserializer=parafka.key_string_deserializer,
        headers_deserializer=parafka.headers_dict_deserializer,
    )
    app.topic("mixed", Noop, deserializer=parafka.raw_deserializer, key_deserializer=tenant)
    lines = describe(app)
    header = next(line for line in lines if line.strip().startswith("GROUP"))
    assert header.rstrip().endswith("DESERIALIZERS")
    rows = {line.split()[2]: line for line in lines if line.startswith("  shop ")}
    assert rows["plain"].endswith("  json")
    assert rows["typed"].endswith("  string, key: string, headers: dict")
    assert rows["mixed"].endswith(f"  raw, key: {__name__}.{tenant.__qualname__}")
