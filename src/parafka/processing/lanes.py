"""A lane: the unit of ordered, one-at-a-time work inside a partition.

Without virtual partitions a partition has one lane; with them, ``max_partitions``. Every field
is guarded by the owning coordinator's lock (the lane's consumer instance lives in the
partition's ``Executor``; a lane has at most one job in flight).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.processing.jobs import HookJob, Job

from parafka.processing.retries import RetryState

__all__ = ["DeadLetter", "Lane"]


class Lane:
    """Backlog (chunks in offset order), the job in flight, hooks to run, retry state."""

    __slots__ = (
        "backlog",
        "dead_letter",
        "filling_since",
        "hooks",
        "in_flight",
        "index",
        "keys",
        "retry",
        "retry_at",
        "size",
    )

    def __init__(self, index: int, keyed: bool) -> None:
        self.index = index
        self.backlog: deque[Sequence[confluent_kafka.Message]] = deque()
        # Parallel to backlog for virtual partitions: each message's key (for balanced release).
        self.keys: deque[Sequence[Hashable]] | None = deque() if keyed else None
        self.size = 0
        self.in_flight: Job | None = None
        self.hooks: deque[HookJob] = deque()
        self.retry_at: float | None = None
        # Back-off and isolation state: after a batch fails, its messages run one at a time up
        # to ``retry.isolate_until``, to find the failing one (``processing.retries``).
        self.retry = RetryState()
        self.dead_letter: DeadLetter | None = None  # a message waiting to go to the DLQ
        # When the oldest queued message was first seen by the coordinator (its clock), for
        # ``max_wait_time``: None while nothing is queued.
        self.filling_since: float | None = None

    def batch_limit(self, max_messages: int) -> int:
        """One message at a time while isolating a failure, else ``max_messages``."""
        isolate_until = self.retry.isolate_until
        if isolate_until is not None:
            first = self.first_offset()
            if first is not None and first <= isolate_until:
                return 1
        return max_messages

    @property
    def idle(self) -> bool:
        return self.in_flight is None and not self.hooks

    @property
    def drained(self) -> bool:
        """Idle with nothing queued and no dead letter waiting."""
        return self.idle and not self.size and self.dead_letter is None

    def push(
        self,
        messages: Sequence[confluent_kafka.Message],
        keys: Sequence[Hashable] | None = None,
        front: bool = False,
    ) -> None:
        """Queue messages (in offset order) at the back, or at the front for a retry."""
        if front:
            self.backlog.appendleft(messages)
        else:
            self.backlog.append(messages)
        if self.keys is not None:
            chunk_keys = keys if keys is not None else [None] * len(messages)
            if front:
                self.keys.appendleft(chunk_keys)
            else:
                self.keys.append(chunk_keys)
        self.size += len(messages)

    def take(
        self, limit: int
    ) -> tuple[Sequence[confluent_kafka.Message], Sequence[Hashable] | None]:
        """Up to ``limit`` messages from the front (and their keys), copying only on merges."""
        chunk = self.backlog.popleft()
        keys = self.keys.popleft() if self.keys is not None else None
        if len(chunk) > limit:
            self.backlog.appendleft(chunk[limit:])
            chunk = chunk[:limit]
            if self.keys is not None and keys is not None:
                self.keys.appendleft(keys[limit:])
                keys = keys[:limit]
        elif len(chunk) < limit and self.backlog:
            merged = list(chunk)
            merged_keys = list(keys) if keys is not None else None
            while self.backlog and len(merged) < limit:
                following = self.backlog.popleft()
                following_keys = self.keys.popleft() if self.keys is not None else None
                room = limit - len(merged)
                if len(following) > room:
                    self.backlog.appendleft(following[room:])
                    following = following[:room]
                    if self.keys is not None and following_keys is not None:
                        self.keys.appendleft(following_keys[room:])
                        following_keys = following_keys[:room]
                merged.extend(following)
                if merged_keys is not None and following_keys is not None:
                    merged_keys.extend(following_keys)
            chunk, keys = merged, merged_keys
        self.size -= len(chunk)
        return chunk, keys

    def first_offset(self) -> int | None:
        """Offset of the first queued message, if any."""
        return self.backlog[0][0].offset() if self.backlog else None

    def drop_from(self, offset: int) -> list[Hashable]:
        """Drop queued messages at or above ``offset`` (they will be fetched again); their keys."""
        dropped: list[Hashable] = []
        while self.backlog:
            chunk = self.backlog[-1]
            if (chunk[-1].offset() or 0) < offset:
                break
            self.backlog.pop()
            chunk_keys = self.keys.pop() if self.keys is not None else None
            keep = 0
            while keep < len(chunk) and (chunk[keep].offset() or 0) < offset:
                keep += 1
            if chunk_keys is not None:
                dropped.extend(chunk_keys[keep:])
            self.size -= len(chunk) - keep
            if keep:
                self.backlog.append(chunk[:keep])
                if self.keys is not None and chunk_keys is not None:
                    self.keys.append(chunk_keys[:keep])
                break
        if self.dead_letter is not None and (self.dead_letter.message.offset() or 0) >= offset:
            dropped.append(self.dead_letter.key)
            self.dead_letter = None
        return dropped

    def queued(self) -> list[tuple[confluent_kafka.Message, Hashable]]:
        """Every queued message with its key (None without virtual partitions)."""
        found: list[tuple[confluent_kafka.Message, Hashable]] = []
        for index, chunk in enumerate(self.backlog):
            chunk_keys = self.keys[index] if self.keys is not None else [None] * len(chunk)
            found.extend(zip(chunk, chunk_keys, strict=True))
        return found

    def clear(self) -> None:
        self.backlog.clear()
        if self.keys is not None:
            self.keys.clear()
        self.size = 0
        self.filling_since = None
        self.dead_letter = None
        self.retry.isolate_until = None
        self.retry.head_runs = 0


class DeadLetter:
    """A message that failed ``max_retries + 1`` times, on its way to the dead letter queue."""

    __slots__ = ("error", "key", "message", "runs")

    def __init__(
        self, message: confluent_kafka.Message, key: Hashable, error: BaseException, runs: int
    ) -> None:
        self.message = message
        self.key = key
        self.error = error
        self.runs = runs
