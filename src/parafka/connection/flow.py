"""Flow control: which partitions are paused, and when one should pause or may resume.

Decisions only: no client, no I/O, no lock. The listener thread owns a :class:`FlowControl`
and is its only caller (the rebalance callbacks run on that thread too). It asks, after each
fetched batch, whether the partition should pause (:meth:`FlowControl.fetched`) and, for each
notified coordinator, whether a paused partition may resume
(:meth:`FlowControl.should_resume`); it carries out ``pause()`` and ``resume()`` on the client
itself and records them in :attr:`FlowControl.paused`. Other threads only read the size of
that set, racily, for diagnostics (``Listener.describe``).

Back-pressure: a partition pauses when its backlog (messages fetched and not yet handed to a
worker) reaches its limit, ``max_backlog`` per lane lowered for large messages so that the
backlog holds at most ``max_backlog_bytes`` at the mean size of the partition's last fetched
batch. It resumes once drained to half its limit, unless a consumer's pause or seek is pending
on it or the listener is quiet (:attr:`FlowControl.held`: every partition stays paused).

With a process-wide budget (``max_buffered_bytes``, :mod:`parafka.connection.budget`): one poll
takes no more messages than the room left allows; while the app holds more than the budget,
every partition that holds messages (in its backlog or in flight) is paused and stays paused
until the total is back under three quarters of the budget, but a partition that holds none
may always fetch (so a partition stuck on a failing message, holding its share, never stops
the others): the budget is exceeded by at most those partitions' first messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import confluent_kafka

from parafka.config import Settings
from parafka.connection.budget import PER_MESSAGE_OVERHEAD, BufferBudget
from parafka.connection.fetch import Key

__all__ = ["Backlog", "FlowControl", "mean_size"]


class Backlog(Protocol):
    """What flow control reads of a partition's coordinator (racy reads are fine here)."""

    @property
    def backlog_size(self) -> int: ...
    @property
    def backlog_limit(self) -> int: ...
    @property
    def seeking(self) -> bool: ...
    @property
    def held(self) -> int: ...


class FlowControl:
    """The paused partitions and the back-pressure decisions (listener thread only)."""

    def __init__(
        self, settings: Settings, budget: BufferBudget | None = None, owner: str = ""
    ) -> None:
        self._settings = settings
        #: The app's budget for buffered messages (None: only the per-partition limits), and
        #: this listener's name in it.
        self.budget = budget
        self._owner = owner
        self._last_size = 0  # mean key + value size of the last fetched batch, any partition
        #: Partitions the listener paused on the client: for back-pressure, a consumer's
        #: pause or seek, quiet mode, the shutdown, or because no route reads them.
        self.paused: set[Key] = set()
        #: Quiet mode: running work finishes, nothing resumes, new partitions start paused.
        self.held = False
        # Mean key + value size of each partition's last fetched batch (for max_backlog_bytes).
        self._message_size: dict[Key, int] = {}

    def limit(self, key: Key, backlog: Backlog) -> int:
        """The partition's backlog limit in messages: ``max_backlog`` (per lane), lowered for
        large messages so that it holds at most ``max_backlog_bytes``."""
        size = self._message_size.get(key, 0)
        return self._settings.byte_limit(size, backlog.backlog_limit)

    def fetched(self, key: Key, batch: Sequence[confluent_kafka.Message], backlog: Backlog) -> bool:
        """``batch`` was handed to the partition's coordinator (the hot path: once per partition
        and fetch): remember its mean message size. True when the partition should pause now:
        its backlog reached the limit and it is not paused yet."""
        size = mean_size(batch)
        self._message_size[key] = size
        budget = self.budget
        if budget is not None:
            self._last_size = size
            budget.add(self._owner, len(batch) * (size + PER_MESSAGE_OVERHEAD))
        if key in self.paused:
            return False
        if budget is not None and budget.over():
            return True
        return backlog.backlog_size >= self._settings.byte_limit(size, backlog.backlog_limit)

    def should_resume(self, key: Key, backlog: Backlog) -> bool:
        """True when the partition is paused and may resume: drained to half its limit, no
        consumer's pause or seek pending, not quiet. (The listener adds: not stopping.)"""
        size = backlog.backlog_size
        return (
            key in self.paused
            and size <= self.limit(key, backlog) // 2
            and not self.held
            and not backlog.seeking
            and (self.budget is None or backlog.held == 0 or self.budget.may_resume())
        )

    def over_budget(self, backlogs: Mapping[Key, Backlog]) -> list[Key]:
        """Over the budget: the partitions to pause now, those not paused that hold messages
        (a partition that holds none may still fetch, so that one stuck on a failing message
        never stops the others). Empty when within the budget."""
        budget = self.budget
        if budget is None or not budget.over():
            return []
        paused = self.paused
        return [key for key, backlog in backlogs.items() if key not in paused and backlog.held]

    def fetch_limit(self, limit: int) -> int:
        """Messages the next poll may take: ``limit``, fewer when the budget has less room
        (at least one: the poll also serves the client's callbacks)."""
        budget = self.budget
        if budget is None:
            return limit
        if not self._last_size:  # no message size known yet: one batch, to learn it
            return min(limit, self._settings.max_messages)
        room = budget.room() // (self._last_size + PER_MESSAGE_OVERHEAD)
        return max(1, min(limit, room))

    def recount(self, backlogs: Mapping[Key, Backlog]) -> None:
        """Report what this listener's partitions hold now to the budget (at each sweep:
        fetches only add, this takes off what was finished)."""
        budget = self.budget
        if budget is None:
            return
        sizes = self._message_size
        budget.set(
            self._owner,
            sum(
                backlog.held * (sizes.get(key, 0) + PER_MESSAGE_OVERHEAD)
                for key, backlog in backlogs.items()
            ),
        )

    def forget(self, key: Key) -> None:
        """The partition left (revoked or lost)."""
        self.paused.discard(key)
        self._message_size.pop(key, None)


def mean_size(batch: Sequence[confluent_kafka.Message]) -> int:
    """Mean key + value bytes of a fetched batch, from up to 8 messages spread over it
    (``len()`` of a message is its value's size)."""
    if not batch:
        return 0
    step = max(1, len(batch) // 8)
    sample = batch[::step]
    total = 0
    for message in sample:
        key = message.key()
        total += len(message) + (len(key) if key else 0)
    return total // len(sample)
