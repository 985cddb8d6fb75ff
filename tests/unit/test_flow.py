"""Flow control's decisions: pause a partition whose backlog reached its limit (in messages,
lowered for large messages), resume it at half the limit unless a consumer's pause or seek or
quiet mode holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parafka.config import Settings
from parafka.connection.budget import PER_MESSAGE_OVERHEAD, BufferBudget
from parafka.connection.flow import FlowControl, mean_size

from .fakes import FakeMessage

KEY = ("t", 0)


@dataclass
class Backlog:
    backlog_size: int = 0
    backlog_limit: int = 100
    seeking: bool = False
    in_flight: int = 0

    @property
    def held(self) -> int:
        return self.backlog_size + self.in_flight


def batch(count: int, value_size: int, key: bytes | None = None) -> list[Any]:
    return [FakeMessage(offset, value=b"v" * value_size, key=key) for offset in range(count)]


def test_a_partition_pauses_when_its_backlog_reaches_the_limit() -> None:
    flow = FlowControl(Settings(max_messages=10))
    assert not flow.fetched(KEY, batch(10, 10), Backlog(backlog_size=99))
    assert flow.fetched(KEY, batch(10, 10), Backlog(backlog_size=100))
    assert flow.fetched(KEY, batch(10, 10), Backlog(backlog_size=150))


def test_a_paused_partition_is_not_paused_again() -> None:
    flow = FlowControl(Settings(max_messages=10))
    flow.paused.add(KEY)
    assert not flow.fetched(KEY, batch(10, 10), Backlog(backlog_size=100))
    assert flow.fetched(("t", 1), batch(10, 10), Backlog(backlog_size=100))


def test_large_messages_lower_the_limit_to_max_backlog_bytes() -> None:
    flow = FlowControl(Settings(max_messages=10, max_backlog_bytes=1000))
    backlog = Backlog(backlog_size=20, backlog_limit=100)
    assert flow.fetched(KEY, batch(8, 40, key=b"k" * 10), backlog)  # 50 bytes: 20 messages
    assert flow.limit(KEY, backlog) == 20
    assert not flow.fetched(KEY, batch(8, 45), backlog)  # 45 bytes: 22 messages
    assert flow.limit(KEY, backlog) == 22
    # Never below one batch of max_messages, however large the messages.
    flow.fetched(KEY, batch(2, 10_000), backlog)
    assert flow.limit(KEY, backlog) == 10


def test_the_size_is_of_the_partitions_last_batch_and_forgotten_when_it_leaves() -> None:
    flow = FlowControl(Settings(max_messages=10, max_backlog_bytes=1000))
    backlog = Backlog(backlog_limit=100)
    assert flow.limit(KEY, backlog) == 100  # nothing fetched yet: the count limit
    flow.fetched(KEY, batch(4, 100), backlog)
    assert flow.limit(KEY, backlog) == 10
    assert flow.limit(("t", 1), backlog) == 100  # per partition
    flow.paused.add(KEY)
    flow.forget(KEY)
    assert flow.limit(KEY, backlog) == 100
    assert KEY not in flow.paused


def test_a_paused_partition_resumes_once_drained_to_half_its_limit() -> None:
    flow = FlowControl(Settings(max_messages=10))
    backlog = Backlog(backlog_size=51, backlog_limit=100)
    assert not flow.should_resume(KEY, backlog)  # not paused
    flow.paused.add(KEY)
    assert not flow.should_resume(KEY, backlog)
    backlog.backlog_size = 50
    assert flow.should_resume(KEY, backlog)
    backlog.backlog_size = 0
    assert flow.should_resume(KEY, backlog)


def test_a_pending_pause_or_seek_and_quiet_mode_keep_a_partition_paused() -> None:
    flow = FlowControl(Settings(max_messages=10))
    flow.paused.add(KEY)
    assert not flow.should_resume(KEY, Backlog(seeking=True))
    flow.held = True
    assert not flow.should_resume(KEY, Backlog())
    flow.held = False
    assert flow.should_resume(KEY, Backlog())


def test_the_mean_size_counts_keys_and_values_of_a_sample() -> None:
    assert mean_size([]) == 0
    assert mean_size(batch(3, 10, key=b"kk")) == 12
    assert mean_size([FakeMessage(0, value=None, key=None)]) == 0
    # Up to 8 messages spread over the batch: every 2nd of 16 here, from the first.
    growing: list[Any] = [FakeMessage(offset, value=b"v" * (10 * offset)) for offset in range(16)]
    assert mean_size(growing) == (0 + 20 + 40 + 60 + 80 + 100 + 120 + 140) // 8


# -- the process-wide budget (max_buffered_bytes) ------------------------------------------

COST = 100 + PER_MESSAGE_OVERHEAD  # one 100-byte message, as the budget counts it


def budgeted(limit_messages: int, reserved: int = 0) -> tuple[FlowControl, BufferBudget]:
    budget = BufferBudget(limit_messages * COST + reserved)
    budget.reserve(reserved)
    return FlowControl(Settings(max_messages=10), budget, "listener-1"), budget


def test_fetches_count_against_the_budget_with_the_per_message_overhead() -> None:
    flow, budget = budgeted(100)
    assert flow.fetch_limit(500) == 10  # no size known yet: one batch of max_messages
    assert not flow.fetched(KEY, batch(40, 100), Backlog(backlog_size=40))
    assert budget.used == 40 * COST
    assert budget.room() == 60 * COST
    assert flow.fetch_limit(500) == 60  # one poll takes no more than the room left


def test_over_the_budget_partitions_that_hold_messages_pause_empty_ones_may_fetch() -> None:
    flow, budget = budgeted(100)
    assert not flow.fetched(KEY, batch(90, 100), Backlog(backlog_size=90))
    assert flow.fetched(("t", 1), batch(20, 100), Backlog(backlog_size=20))  # 110: over
    assert budget.over()
    assert flow.fetch_limit(500) == 1  # no room: one message per poll, callbacks still served
    flow.paused.add(("t", 1))
    backlogs = {
        KEY: Backlog(backlog_size=0, in_flight=2),  # its batch still runs: it holds memory
        ("t", 1): Backlog(backlog_size=20),  # paused already
        ("t", 2): Backlog(),  # holds nothing: may fetch, so a stuck partition stops no one
    }
    assert flow.over_budget(backlogs) == [KEY]
    # An empty partition paused for the budget may fetch again at once.
    flow.paused.add(("t", 2))
    assert flow.should_resume(("t", 2), Backlog())
    assert not flow.should_resume(("t", 1), Backlog(backlog_size=20))
    budget.set("listener-1", 0)
    assert flow.over_budget(backlogs) == []


def test_a_partition_paused_for_the_budget_resumes_below_three_quarters_or_when_empty() -> None:
    flow, budget = budgeted(100)
    flow.paused.add(KEY)
    budget.set("listener-1", 80 * COST)  # under the budget, above three quarters
    assert not flow.should_resume(KEY, Backlog(backlog_size=10))
    assert not flow.should_resume(KEY, Backlog(backlog_size=0, in_flight=1))  # still holds
    assert flow.should_resume(KEY, Backlog(backlog_size=0))  # holds nothing: always
    budget.set("listener-1", 75 * COST)
    assert flow.should_resume(KEY, Backlog(backlog_size=10))


def test_the_budget_is_shared_by_the_listeners_and_recounted_at_each_sweep() -> None:
    budget = BufferBudget(1_000 * COST)
    first = FlowControl(Settings(max_messages=10), budget, "one")
    second = FlowControl(Settings(max_messages=10), budget, "two")
    first.fetched(KEY, batch(10, 100), Backlog(backlog_size=10))
    second.fetched(KEY, batch(30, 100), Backlog(backlog_size=30))
    assert budget.used == 40 * COST
    # The recount takes off what was finished; messages in flight still count.
    first.recount({KEY: Backlog(backlog_size=2, in_flight=3)})
    assert budget.used == (5 + 30) * COST
    budget.forget("two")
    assert budget.used == 5 * COST


def test_librdkafka_prefetch_is_taken_off_the_budget() -> None:
    budget = BufferBudget(64 * 1024 * 1024)
    budget.reserve(16 * 1024 * 1024)
    assert budget.available == 48 * 1024 * 1024
    assert "buffered 0.0 MiB of 48.0 MiB" in budget.describe()


def test_without_a_budget_nothing_changes() -> None:
    flow = FlowControl(Settings(max_messages=10))
    assert flow.fetch_limit(500) == 500
    assert not flow.fetched(KEY, batch(90, 100_000), Backlog(backlog_size=1))
    flow.recount({KEY: Backlog(backlog_size=10**6)})  # no budget: nothing to report
