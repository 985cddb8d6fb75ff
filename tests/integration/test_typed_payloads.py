"""Typed payloads against the real broker: a route with a pydantic model deserializer, string
keys and dict headers; its consumer reads typed payloads and produces JSON to a second topic.
The one message that does not validate goes to the dead letter queue exactly as it came (raw
value, key and headers); every valid message arrives, and the offsets reach the end."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from confluent_kafka import Producer

import parafka
from parafka.pydantic import model_deserializer
from parafka.testing import end_offsets

from .helpers import committed, read_all, running, wait_until

pytestmark = pytest.mark.integration

COUNT = 40
BAD = 13  # the order whose total is not a number
NO_KEY = 20  # an order produced without a key
BAD_HEADERS = [("source", b"web"), ("source", b"retry"), ("trace", None)]


class Order(pydantic.BaseModel):
    id: int
    total: float


def produce_orders(bootstrap: str, topic: str) -> None:
    """``COUNT`` orders over two partitions, with keys and headers; order ``BAD`` is invalid."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for number in range(COUNT):
        total: Any = "lots" if number == BAD else number * 1.5
        producer.produce(
            topic,
            value=json.dumps({"id": number, "total": total}).encode(),
            key=None if number == NO_KEY else f"order-{number}".encode(),
            headers=BAD_HEADERS if number == BAD else [("source", f"shop-{number % 3}".encode())],
            partition=number % 2,
            on_delivery=delivered,
        )
    assert producer.flush(30) == 0
    assert failures == []


def test_typed_payloads_keys_and_headers_with_a_dead_letter_for_the_invalid_one(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    orders, out = new_topic(partitions=2, base="orders"), new_topic(partitions=1, base="out")
    dlq, group = new_topic(partitions=1, base="dlq"), unique_name("g")
    produce_orders(kafka_bootstrap, orders)
    lock = threading.Lock()
    kinds: set[tuple[str, str, str]] = set()  # (payload, key, headers) types consume() saw

    class Totals(parafka.Consumer):
        def consume(self, messages: parafka.Messages[Order]) -> None:
            for message in messages:
                order = message.payload  # order BAD raises DeserializationError here
                with lock:
                    kinds.add(
                        (
                            type(order).__name__,
                            type(message.key).__name__,
                            type(message.headers).__name__,
                        )
                    )
                self.produce(
                    out,
                    {"id": order.id, "total": order.total, "source": message.headers["source"]},
                    key=message.key,
                    serializer=parafka.json_serializer,
                )

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=10,
        pause_timeout=0.05,
        pause_max_timeout=0.1,
        log_events=False,
    )
    app.topic(
        orders,
        Totals,
        deserializer=model_deserializer(Order),
        key_deserializer=parafka.key_string_deserializer,
        headers_deserializer=parafka.headers_dict_deserializer,
        dead_letter_queue=parafka.DeadLetterQueue(topic=dlq, max_retries=1),
    )
    ends = end_offsets(kafka_bootstrap, orders)
    assert ends == {0: COUNT // 2, 1: COUNT // 2}
    with running(app):
        wait_until(
            lambda: committed(kafka_bootstrap, group, orders, 2) == ends,
            60,
            "the offsets of both partitions committed to the end",
        )

    with lock:
        assert kinds == {("Order", "str", "dict"), ("Order", "NoneType", "dict")}

    # Every valid order arrived as compact JSON with its string key (repeats are allowed:
    # the batch with the invalid order ran again before it was isolated).
    valid = set(range(COUNT)) - {BAD}

    def ids(found: list[Any]) -> set[int]:
        return {json.loads(m.value())["id"] for m in found}

    produced = read_all(kafka_bootstrap, out, lambda found: ids(found) >= valid)
    assert ids(produced) == valid
    for message in produced:
        body = json.loads(message.value())
        assert message.value() == json.dumps(body, separators=(",", ":")).encode()
        number = body["id"]
        assert body == {"id": number, "total": number * 1.5, "source": f"shop-{number % 3}"}
        assert message.key() == (None if number == NO_KEY else f"order-{number}".encode())

    # The invalid one went to the dead letter queue as it came: raw value, key and headers.
    (letter,) = read_all(kafka_bootstrap, dlq, lambda found: len(found) >= 1)
    assert letter.value() == b'{"id": 13, "total": "lots"}'
    assert letter.key() == b"order-13"
    headers = letter.headers()
    assert headers[: len(BAD_HEADERS)] == BAD_HEADERS
    extra = dict(headers[len(BAD_HEADERS) :])
    assert extra["parafka-original-offset"] == b"%d" % (BAD // 2)
    assert extra["parafka-error-type"] == b"parafka.errors.DeserializationError"
    assert b"total: Input should be a valid number" in extra["parafka-error-message"]
