"""Shared fixtures: one real Kafka broker per test session, unique topic names per test.

The broker comes from parafka's own pytest plugin (:mod:`parafka.testing.pytest_plugin`:
``kafka_broker`` and ``new_topic``), started through the same code as ``parafka broker start``
(or taken from ``PARAFKA_BOOTSTRAP_SERVERS``). When it cannot start, every integration test
fails with the reason: the test command sets the broker up itself, so a missing broker is a
defect, never a skip.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

# Also registered by the package's pytest11 entry point (under this same name, so never twice);
# listed here for an environment whose parafka was installed before the entry point existed.
pytest_plugins = ["parafka.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: str) -> str:
    """The bootstrap address of the session's real broker (the plugin's ``kafka_broker``)."""
    return kafka_broker


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make names (topics, groups) unique to this test: ``unique_name("orders")``."""
    test = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:60]

    def make(base: str) -> str:
        return f"{base}-{test}-{uuid.uuid4().hex[:8]}"

    return make
