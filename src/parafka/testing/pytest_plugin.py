"""parafka's pytest plugin (entry point ``pytest11``): fixtures for testing parafka apps.

- ``parafka_harness``: a factory, ``parafka_harness(app, partitions=1) -> Harness``; every
  harness it made is closed after the test.
- ``kafka_broker``: the bootstrap address of a real local broker, one per test session,
  started with parafka's own broker tooling (``parafka broker start``: Kafka's jars from Maven
  Central, cached) and stopped at the end; ``PARAFKA_BOOTSTRAP_SERVERS`` names one to use
  instead. A broker that cannot start fails the tests that need it, with the reason.
- ``new_topic``: a factory, ``new_topic(partitions=1) -> name``, creating a topic with a name
  unique to the test on that broker.

Registering the plugin starts nothing and imports nothing heavy: each fixture imports what it
needs when a test asks for it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from parafka.app import App
    from parafka.testing.harness import Harness

__all__ = ["kafka_broker", "new_topic", "parafka_harness"]

#: Brokers started by test sessions are named ``pytest-<pid>``: one left by a session that
#: died is stopped by the next one.
SESSION_PREFIX = "pytest-"


@pytest.fixture
def parafka_harness() -> Iterator[Callable[..., Harness]]:
    """``parafka_harness(app, partitions=1)``: a :class:`parafka.testing.Harness` for ``app``,
    closed after the test."""
    from parafka.testing.harness import Harness

    made: list[Harness] = []

    def make(app: App, **options: Any) -> Harness:
        harness = Harness(app, **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


def _reap_orphans() -> None:
    """Stop brokers left by test sessions that died without stopping them."""
    from parafka.broker import LocalBroker

    for info in LocalBroker.all():
        if not info.name.startswith(SESSION_PREFIX):
            continue
        owner = info.name.removeprefix(SESSION_PREFIX).split("-", 1)[0]  # pytest-<pid>[-...]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            LocalBroker(info.name).remove()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """The bootstrap address of a real Kafka broker, started once for the session."""
    given = os.environ.get("PARAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    from parafka.broker import LocalBroker
    from parafka.broker.local import parafka_home
    from parafka.errors import BrokerError

    _reap_orphans()
    broker = LocalBroker(f"{SESSION_PREFIX}{os.getpid()}", parafka_home())
    try:
        info = broker.start()
    except BrokerError as exc:
        pytest.fail(f"could not start the test Kafka broker: {exc}", pytrace=False)
    try:
        yield info.bootstrap
    finally:
        broker.remove()


@pytest.fixture
def new_topic(kafka_broker: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``new_topic(partitions=1, base="topic")``: create a topic whose name is unique to this
    test on the session's broker, and return the name."""
    from parafka.testing.kafka import create_topic

    test = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:60]

    def make(partitions: int = 1, base: str = "topic") -> str:
        name = f"{base}-{test}-{uuid.uuid4().hex[:8]}"
        create_topic(kafka_broker, name, partitions)
        return name

    return make
