"""A lane: the unit of ordered, one-at-a-time work inside a partition.

Without virtual partitions a partition has one lane; with them, ``max_partitions``. Every field
is guarded by the owning coordinator's lock, except ``consumer`` and ``instance_error``, which
only the worker running this lane's job touches (a lane has at most one job in flight).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.consumer import Consumer
    from parafka.processing.jobs import HookJob, Job

__all__ = ["DeadLetter", "Lane"]


class Lane:
    """Backlog (chunks in offset order), the job in flight, hooks to run, retry state."""

    __slots__ = (
        "attempt",
        "backlog",
        "consumer",
        "dead_letter",
        "head_runs",
        "hooks",
        "in_flight",
        "index",
        "instance_error",
        "isolate_until",
        "keys",
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
        self.attempt = 0  # consecutive failures (sets the back-off)
        # After a batch fails, its messages run one at a time up to this offset, to find the
        # failing one; head_runs counts how often the first queued message has run.
        self.isolate_until: int | None = None
        self.head_runs = 0
        self.dead_letter: DeadLetter | None = None  # a message waiting to go to the DLQ
        self.consumer: Consumer | None = None
        self.instance_error: BaseException | None = None

    def batch_limit(self, max_messages: int) -> int:
        """One message at a time while isolating a failure, else ``max_messages``."""
        if self.isolate_until is not None:
            first = self.first_offset()
            if first is not None and first <= self.isolate_until:
                return 1
        return max_messages

    @property
    def idle(self) -> bool:
        return self.in_flight is None and not self.hooks

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

    def clear(self) -> None:
        self.backlog.clear()
        if self.keys is not None:
            self.keys.clear()
        self.size = 0
        self.dead_letter = None
        self.isolate_until = None
        self.head_runs = 0


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
