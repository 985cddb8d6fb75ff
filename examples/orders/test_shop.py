"""Tests of the example app with parafka's testing kit: no broker, the real engine."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from shop import REVOKED, TOTALS, InvalidOrder, Orders, app

from parafka.testing import Harness, HarnessError


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    TOTALS.clear()
    REVOKED.clear()


def order(id: int, quantity: int = 1) -> bytes:
    return json.dumps({"id": id, "item": "book", "quantity": quantity}).encode()


def test_orders_are_totalled_per_customer_and_shipped(
    parafka_harness: Callable[..., Harness],
) -> None:
    h = parafka_harness(app, partitions=2)
    for id in range(12):
        h.produce("orders", order(id, quantity=2), key=f"customer-{id % 3}")
    h.run()
    assert TOTALS == {"customer-0": 8, "customer-1": 8, "customer-2": 8}
    shipped = [json.loads(m.value or b"") for m in h.produced("shipments")]
    assert sorted(s["order"] for s in shipped) == list(range(12))
    for partition in (0, 1):
        end = len([m for m in h.produced("orders") if m.partition == partition])
        assert h.committed("orders", partition) == (end or None)  # None: nothing to commit
    # each customer's orders reached the consumer in the order they were produced
    for customer in range(3):
        ids = [
            m.payload["id"]
            for m in h.consumed("orders")
            if m.key == f"customer-{customer}".encode()
        ]
        assert ids == sorted(ids)


def test_a_malformed_order_goes_to_the_dead_letter_queue_after_its_retries(
    parafka_harness: Callable[..., Harness],
) -> None:
    h = parafka_harness(app)
    h.produce("orders", order(1), key="alice")
    h.produce("orders", b"not json", key="bob")
    h.produce("orders", order(3), key="carol")
    with pytest.raises(HarnessError, match=r"advance\(1\)"):
        h.run()  # bob's order waits for its first retry (1 s)
    assert TOTALS == {"alice": 1, "carol": 1}  # the other lanes went on
    h.advance(10)  # retries after 1 s and 2 s, then the dead letter
    (letter,) = h.produced("orders.dlq")
    assert letter.value == b"not json"
    assert dict(letter.headers)["parafka-original-offset"] == b"1"
    assert dict(letter.headers)["parafka-attempts"] == b"3"
    assert h.committed("orders", 0) == 3


def test_a_rebalance_mid_way_runs_revoked_and_loses_nothing(
    parafka_harness: Callable[..., Harness],
) -> None:
    h = parafka_harness(app)
    for id in range(40):
        h.produce("orders", order(id), key=f"customer-{id % 4}")
    h.run(max_batches=2)
    h.revoke("orders", 0)
    assert REVOKED  # every lane's instance ran revoked()
    h.assign("orders", 0)
    h.run()
    assert {m.payload["id"] for m in h.consumed("orders")} == set(range(40))
    assert h.committed("orders", 0) == 40
    shipped = {json.loads(m.value or b"")["order"] for m in h.produced("shipments")}
    assert shipped == set(range(40))  # at least once: some may be shipped twice


def test_one_consume_call_with_built_messages(parafka_harness: Callable[..., Harness]) -> None:
    h = parafka_harness(app)
    batch = h.messages("orders", [order(1, quantity=0)], key=b"dave")
    consumer = Orders()
    consumer.topic, consumer.partition = "orders", 0
    consumer.initialized()
    with pytest.raises(InvalidOrder, match="quantity must be positive"):
        consumer.consume(batch)
