"""The demo behind ``parafka demo``: a real broker, a topic, a produce/consume round trip."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Consumer

from parafka.broker import LocalBroker
from parafka.errors import BrokerAlreadyRunning
from parafka.testing import create_topic, produce_messages


def run_demo(
    messages: int = 10_000,
    partitions: int = 4,
    broker_name: str = "demo",
    echo: Callable[[str], None] = print,
) -> dict[int, int]:
    """Start (or reuse) a local broker, produce ``messages`` and consume them all back.

    Returns the count consumed per partition. A broker started here is stopped at the end.
    """
    broker = LocalBroker(broker_name)
    started = time.monotonic()
    try:
        info = broker.start()
        owned = True
        echo(
            f"started Kafka {info.kafka_version} at {info.bootstrap} "
            f"in {time.monotonic() - started:.1f} s"
        )
    except BrokerAlreadyRunning as exc:
        owned = False
        echo(f"using the running broker {broker_name!r} at {exc.bootstrap}")
        info_bootstrap = exc.bootstrap
    else:
        info_bootstrap = info.bootstrap
    try:
        return _round_trip(info_bootstrap, messages, partitions, echo)
    finally:
        if owned:
            broker.stop()
            echo(f"stopped broker {broker_name!r}")


def _round_trip(
    bootstrap: str, messages: int, partitions: int, echo: Callable[[str], None]
) -> dict[int, int]:
    topic = f"parafka-demo-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions)
    echo(f"created topic {topic} with {partitions} partitions")
    began = time.monotonic()
    produce_messages(
        bootstrap,
        topic,
        ((f"key-{i % 100}".encode(), f"order {i}".encode(), None) for i in range(messages)),
    )
    echo(f"produced {messages} messages in {time.monotonic() - began:.2f} s")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-group",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    counts: Counter[int] = Counter()
    began = time.monotonic()
    deadline = began + 60
    try:
        while sum(counts.values()) < messages and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is None:
                    counts[message.partition() or 0] += 1
    finally:
        consumer.close()
    elapsed = time.monotonic() - began
    total = sum(counts.values())
    echo(f"consumed {total} messages in {elapsed:.2f} s ({total / elapsed:,.0f} msg/s)")
    for partition in sorted(counts):
        echo(f"  partition {partition}: {counts[partition]} messages")
    if total != messages:
        raise RuntimeError(f"consumed {total} of {messages} messages within 60 s")
    return dict(counts)
