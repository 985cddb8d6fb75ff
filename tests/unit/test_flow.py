"""Flow control's decisions: pause a partition whose backlog reached its limit (in messages,
lowered for large messages), resume it at half the limit unless a consumer's pause or seek or
quiet mode holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parafka.config import Settings
from parafka.connection.flow import FlowControl, mean_size

from .fakes import FakeMessage

KEY = ("t", 0)


@dataclass
class Backlog:
    backlog_size: int = 0
    backlog_limit: int = 100
    seeking: bool = False


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
