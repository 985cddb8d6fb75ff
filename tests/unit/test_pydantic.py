"""parafka.pydantic (the ``parafka[pydantic]`` extra): validated payloads, model produce, and a
clear ImportError without pydantic."""

from __future__ import annotations

import importlib
import json
import re
import sys
from typing import Any

import pydantic
import pytest

import parafka
from parafka.errors import DeserializationError
from parafka.messages import Message
from parafka.pydantic import PYDANTIC_NEEDED, model_deserializer, model_serializer

from .fakes import FakeMessage


class Line(pydantic.BaseModel):
    sku: str
    quantity: int


class Order(pydantic.BaseModel):
    id: int
    total: float
    lines: list[Line] = pydantic.Field(default_factory=list)


def payload_of(value: bytes | None, deserializer: Any) -> Any:
    return Message(FakeMessage(9, 3, "orders", value), deserializer).payload  # type: ignore[arg-type]


def test_a_valid_value_becomes_the_model() -> None:
    order = payload_of(
        b'{"id": 7, "total": "9.5", "lines": [{"sku": "a", "quantity": 2}]}',
        model_deserializer(Order),
    )
    assert order == Order(id=7, total=9.5, lines=[Line(sku="a", quantity=2)])


def test_any_type_pydantic_validates_works_too() -> None:
    assert payload_of(b"[1, 2]", model_deserializer(list[int])) == [1, 2]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            b'{"id": "seven"}',
            f"not a valid {__name__}.Order: id: Input should be a valid integer, unable to parse "
            "string as an integer; total: Field required",
        ),
        (b"not json", "Invalid JSON: expected ident at line 1 column 2"),
        (b"\xff\xfe", "Invalid JSON"),
        (b"[1]", "Input should be an object"),
        (b"", "the value is empty"),
        (None, "the value is None (a tombstone)"),
    ],
)
def test_bad_values_raise_a_deserialization_error_with_pydantics_reasons(
    value: bytes | None, reason: str
) -> None:
    message = Message(FakeMessage(9, 3, "orders", value), model_deserializer(Order))  # type: ignore[arg-type]
    for _ in range(2):  # raised on each access, like every payload error
        with pytest.raises(DeserializationError, match=re.escape(reason)) as info:
            _ = message.payload
    assert str(info.value).startswith("cannot deserialize the message (orders/3 offset 9): ")
    assert message.value == value
    if value:
        assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_many_errors_are_shortened_and_inputs_left_out() -> None:
    lines = ",".join('{"sku": "secret-sku", "quantity": "x"}' for _ in range(5))
    value = b'{"id": 1, "total": 2, "lines": [%s]}' % lines.encode()
    with pytest.raises(DeserializationError) as info:
        payload_of(value, model_deserializer(Order))
    text = str(info.value)
    assert "lines.0.quantity: Input should be a valid integer" in text
    assert text.endswith("(and 2 more errors)")
    assert "secret-sku" not in text
    assert "\n" not in text


def test_a_type_pydantic_cannot_validate_is_a_configuration_error() -> None:
    class Plain:
        pass

    with pytest.raises(parafka.ConfigurationError) as info:
        model_deserializer(Plain)
    assert str(info.value).startswith(
        f"model_deserializer({__name__}.{Plain.__qualname__}): pydantic cannot validate it "
        "(Unable to generate pydantic-core schema"
    )


def test_the_deserializer_is_named_after_the_model() -> None:
    name = getattr(model_deserializer(Order), "__qualname__", "")
    assert name == f"model_deserializer({__name__}.Order)"


def test_a_route_with_a_model_deserializer_and_parafka_info() -> None:
    from parafka.cli.info import describe

    class Orders(parafka.Consumer):
        def consume(self, messages: parafka.Messages[Order]) -> None:
            pass

    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:1"}, group_id="shop")
    app.topic("orders", Orders, deserializer=model_deserializer(Order))
    with pytest.raises(parafka.ConfigurationError, match=r"model_deserializer\(Order\) instead"):
        app.topic("orders2", Orders, deserializer=Order)  # type: ignore[arg-type]
    (row,) = [line for line in describe(app) if line.startswith("  shop ")]
    assert row.endswith(f"  parafka.pydantic.model_deserializer({__name__}.Order)")


# -- model_serializer ----------------------------------------------------------------------------


def test_model_serializer_dumps_the_model_as_json() -> None:
    order = Order(id=1, total=2.5, lines=[Line(sku="ä", quantity=1)])
    data = model_serializer(order)
    assert data is not None
    assert json.loads(data) == {"id": 1, "total": 2.5, "lines": [{"sku": "ä", "quantity": 1}]}
    assert payload_of(data, model_deserializer(Order)) == order  # the round trip
    assert model_serializer(None) is None


def test_model_serializer_refuses_what_is_not_a_model() -> None:
    with pytest.raises(parafka.SerializationError, match="takes a pydantic model, got dict"):
        model_serializer({"id": 1})


def test_a_model_that_cannot_be_dumped_is_a_serialization_error() -> None:
    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        thing: object

    with pytest.raises(
        parafka.SerializationError,
        match=r"cannot dump the .*Holder: Unable to serialize unknown type",
    ):
        model_serializer(Holder(thing=object()))


def test_produce_with_the_model_serializer() -> None:
    sent: list[tuple[Any, ...]] = []

    class Producer:
        def send(self, *args: Any) -> None:
            sent.append(args)

    class Forward(parafka.Consumer):
        def consume(self, messages: parafka.Messages[Order]) -> None:
            pass

    forward = Forward()
    forward._parafka_producer = Producer()  # type: ignore[assignment]
    forward.produce("out", Order(id=3, total=1.0), "3", serializer=model_serializer)
    assert sent == [("out", b'{"id":3,"total":1.0,"lines":[]}', b"3", None, 60.0)]
    with pytest.raises(
        parafka.SerializationError, match=r"serializer=parafka\.pydantic\.model_serializer"
    ):
        forward.produce("out", Order(id=3, total=1.0))  # a model needs its serializer
    assert len(sent) == 1


# -- without pydantic ----------------------------------------------------------------------------


def test_importing_it_without_pydantic_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pydantic", None)  # what an environment without it does
    monkeypatch.delitem(sys.modules, "parafka.pydantic")
    monkeypatch.delattr(parafka, "pydantic")
    with pytest.raises(ImportError) as info:
        importlib.import_module("parafka.pydantic")
    assert str(info.value) == PYDANTIC_NEEDED
    assert "pip install 'parafka[pydantic]'" in str(info.value)
    assert isinstance(info.value, ModuleNotFoundError)
    assert info.value.name == "pydantic"
    assert "parafka.pydantic" not in sys.modules  # nothing half-imported is left behind
    import parafka as still  # and the rest of parafka does not need it

    assert still.json_serializer({"a": 1}) == b'{"a":1}'
