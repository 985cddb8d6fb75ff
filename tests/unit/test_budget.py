"""librdkafka's buffer sizes under a process-wide budget, and what they take off it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parafka.connection.budget import (
    LIBRDKAFKA_FACTOR,
    BufferBudget,
    budget_client_settings,
    librdkafka_reserve,
)

MIB = 1024 * 1024


@given(st.integers(min_value=1, max_value=1 << 40))
def test_librdkafkas_sizes_stay_within_its_limits_and_parafkas_usual_queue(share: int) -> None:
    settings = budget_client_settings(share)
    # fetch.max.bytes must be at least message.max.bytes (1,000,000 by default).
    assert 1_000_000 <= settings["fetch.max.bytes"] <= 52_428_800
    assert 1024 <= settings["queued.max.messages.kbytes"] <= 16_384


@given(st.integers(min_value=16 * MIB, max_value=1 << 40))
def test_a_share_of_16_mib_or_more_keeps_at_least_half_for_parafka(share: int) -> None:
    # The app refuses a budget whose reserve is more than half of it; parafka's own sizes
    # never make it do so from 16 MiB a connection on.
    assert 2 * librdkafka_reserve(budget_client_settings(share)) <= share


def test_the_reserve_counts_each_buffer_several_times_and_librdkafkas_defaults_when_unset() -> None:
    config = {"queued.max.messages.kbytes": 4096, "fetch.max.bytes": 2 * MIB}
    assert librdkafka_reserve(config) == LIBRDKAFKA_FACTOR * 6 * MIB
    assert librdkafka_reserve({}) == LIBRDKAFKA_FACTOR * (64 * MIB + 52_428_800)


def test_a_fetch_is_never_smaller_than_message_max_bytes() -> None:
    # librdkafka refuses fetch.max.bytes < message.max.bytes.
    assert budget_client_settings(64 * MIB, 5_000_000)["fetch.max.bytes"] == 5_000_000
    assert budget_client_settings(64 * MIB, 100)["fetch.max.bytes"] == 2 * MIB


def test_a_64_mib_budget_on_one_connection() -> None:
    # The benchmark's memory workload: a 4 MiB queue, 2 MiB fetches, 24 MiB reserved.
    assert budget_client_settings(64 * MIB) == {
        "queued.max.messages.kbytes": 4096,
        "fetch.max.bytes": 2 * MIB,
    }
    budget = BufferBudget(64 * MIB)
    budget.connections = 2
    assert budget.connection_share == 32 * MIB
    budget.reserve(librdkafka_reserve(budget_client_settings(64 * MIB)))
    assert budget.available == 40 * MIB
