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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import confluent_kafka

from parafka.config import Settings
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


class FlowControl:
    """The paused partitions and the back-pressure decisions (listener thread only)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
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
        return (
            backlog.backlog_size >= self._settings.byte_limit(size, backlog.backlog_limit)
            and key not in self.paused
        )

    def should_resume(self, key: Key, backlog: Backlog) -> bool:
        """True when the partition is paused and may resume: drained to half its limit, no
        consumer's pause or seek pending, not quiet. (The listener adds: not stopping.)"""
        return (
            key in self.paused
            and backlog.backlog_size <= self.limit(key, backlog) // 2
            and not self.held
            and not backlog.seeking
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
