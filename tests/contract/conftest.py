"""The contract suite's switch: every scenario runs on each backend, ``harness`` (in memory)
and ``broker`` (the session's real broker); ``PARAFKA_CONTRACT_BACKEND=harness`` (or
``broker``) runs one of them only."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.contract.backends import Backend, BrokerBackend, HarnessBackend

BACKENDS = ("harness", "broker")


def _selected() -> list[str]:
    chosen = os.environ.get("PARAFKA_CONTRACT_BACKEND", "").strip()
    if not chosen:
        return list(BACKENDS)
    if chosen not in BACKENDS:
        raise pytest.UsageError(
            f"PARAFKA_CONTRACT_BACKEND={chosen!r}: choose one of {', '.join(BACKENDS)} "
            "(or leave it unset for both)"
        )
    return [chosen]


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.integration] if name == "broker" else [])
        for name in _selected()
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The backend this run of the scenario uses (the broker is started only when asked)."""
    test = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.originalname).strip("-")[:50]
    made: Backend
    if request.param == "broker":
        made = BrokerBackend(test, request.getfixturevalue("kafka_broker"))
    else:
        made = HarnessBackend(test)
    try:
        yield made
    finally:
        made.close()
