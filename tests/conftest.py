"""Shared fixtures: one real Kafka broker per test session, unique topic names per test.

The broker is started through the same code as ``parafka broker start`` (or taken from
``PARAFKA_BOOTSTRAP_SERVERS``). When it cannot start, every integration test fails with the
reason: the test command sets the broker up itself, so a missing broker is a defect, never a skip.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parafka.broker import LocalBroker
from parafka.broker.local import parafka_home
from parafka.errors import BrokerError
from parafka.testing import create_topic

_SESSION_PREFIX = "pytest-"


def _reap_orphans() -> None:
    """Stop brokers left by test sessions that died without stopping them."""
    for info in LocalBroker.all():
        if not info.name.startswith(_SESSION_PREFIX):
            continue
        owner = info.name.removeprefix(_SESSION_PREFIX)
        owner = owner.split("-", 1)[0]  # pytest-<pid> and pytest-<pid>-<purpose>
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            LocalBroker(info.name).remove()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real broker, started once for the session."""
    given = os.environ.get("PARAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    _reap_orphans()
    broker = LocalBroker(f"{_SESSION_PREFIX}{os.getpid()}", parafka_home())
    try:
        info = broker.start()
    except BrokerError as exc:
        pytest.fail(f"could not start the test Kafka broker: {exc}", pytrace=False)
    try:
        yield info.bootstrap
    finally:
        broker.remove()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make names (topics, groups) unique to this test: ``unique_name("orders")``."""
    test = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:60]

    def make(base: str) -> str:
        return f"{base}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def new_topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> Callable[..., str]:
    """Create a topic with a unique name: ``new_topic(partitions=3)`` returns its name."""

    def make(partitions: int = 1, base: str = "topic") -> str:
        name = unique_name(base)
        create_topic(kafka_bootstrap, name, partitions)
        return name

    return make
