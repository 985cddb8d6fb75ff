"""An order processor: JSON orders, keyed by customer, processed in parallel lanes per customer
(virtual partitions), with a dead letter queue for orders that cannot be processed.

Run it against a broker with ``parafka server shop:app`` (from this directory); test it without
one with ``pytest`` (see ``test_shop.py``).
"""

from __future__ import annotations

import os
from typing import Any

import parafka

app = parafka.App(
    kafka={"bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")},
    group_id="shop",
    concurrency=8,
    max_messages=50,
    pause_timeout=1.0,  # the first retry after 1 s, then 2 s, ...
)

#: Order totals per customer (what this example "does"; a database in a real app).
TOTALS: dict[str, int] = {}


class InvalidOrder(ValueError):
    """The order cannot be processed (it will go to the dead letter queue)."""


def check(order: Any) -> dict[str, Any]:
    if not isinstance(order, dict) or not isinstance(order.get("quantity"), int):
        raise InvalidOrder(f"not an order: {order!r}")
    if order["quantity"] <= 0:
        raise InvalidOrder(f"order {order.get('id')}: quantity must be positive")
    return order


class Orders(parafka.Consumer):
    def initialized(self) -> None:
        self.processed = 0

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            order = check(message.payload)  # a non-JSON value raises here too
            customer = message.key.decode()
            TOTALS[customer] = TOTALS.get(customer, 0) + order["quantity"]
            self.produce(
                "shipments",
                value=parafka.json_serializer({"order": order["id"], "customer": customer}),
                key=message.key,
            )
            self.mark_as_consumed(message)
            self.processed += 1

    def revoked(self) -> None:
        REVOKED.append((self.partition, self.processed))


#: (partition, orders processed by the instance) for each revoked consumer instance.
REVOKED: list[tuple[int, int]] = []

app.topic(
    "orders",
    Orders,
    virtual_partitions=parafka.VirtualPartitions(
        partitioner=lambda message: message.key, max_partitions=4
    ),
    dead_letter_queue=parafka.DeadLetterQueue(topic="orders.dlq", max_retries=2),
)
