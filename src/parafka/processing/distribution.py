"""Where a virtual-partitioned message goes: its lane, or a wait behind a message without a key.

Used under the coordinator's lock (not thread-safe). Keyed segments (from
:mod:`~parafka.processing.intake`) go to their lanes at once: ``consistent`` ones carry their
lane, ``balanced`` ones are planned here against the lanes' loads. A message whose key failed
becomes the *barrier*: it waits until every lane has drained, runs alone on lane 0 (so order
still holds for every key), and what arrived behind it waits in the inbox until lane 0 is done
with it (processed or dead-lettered).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from parafka.processing.intake import Failed, Keyed, Segment
from parafka.processing.jobs import ConsumeJob

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.processing.lanes import Lane
    from parafka.processing.virtual import LanePlanner

__all__ = ["NO_KEY", "Distributor"]


class _Unkeyed:
    """The key of a message whose key failed (it runs alone on lane 0)."""

    def __repr__(self) -> str:
        return "<no key>"


NO_KEY: Hashable = _Unkeyed()


class Distributor:
    """The inbox, the barrier and the ``balanced`` planner of one partition's lanes."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        planner: LanePlanner | None,
        on_failed: Callable[[Failed], None],
    ) -> None:
        self._lanes = lanes
        self._planner = planner
        self._on_failed = on_failed
        self._inbox: deque[Segment] = deque()
        self._barrier: Failed | None = None
        self._barrier_running = False  # the barrier message is on lane 0

    @property
    def waiting(self) -> bool:
        """Messages wait behind a failed key (or it has not run yet)."""
        return bool(self._inbox) or self._barrier is not None

    @property
    def blocked(self) -> bool:
        return self._barrier is not None

    def accept(self, segment: Segment) -> None:
        """Route a fetched segment, or queue it behind the barrier."""
        if self._barrier is not None or self._inbox:
            self._inbox.append(segment)
        else:
            self._route(segment)

    def step(self) -> None:
        """Move the barrier onto lane 0 once every lane drained; once lane 0 is done with it,
        route what waited behind it (up to the next failed key)."""
        if self._barrier_running:
            if not self._lanes[0].drained:
                return
            self._barrier = None
            self._barrier_running = False
            while self._inbox and self._barrier is None:
                self._route(self._inbox.popleft())
        barrier = self._barrier
        if barrier is None or not all(lane.drained for lane in self._lanes):
            return
        self._lanes[0].push([barrier.message], [NO_KEY])
        self._barrier_running = True

    def drop_from(self, first: int) -> int:
        """Forget waiting messages at or above ``first`` (fetched again); how many."""
        dropped = 0
        barrier = self._barrier
        if (
            barrier is not None
            and not self._barrier_running
            and (barrier.message.offset() or 0) >= first
        ):
            self._barrier = None
            dropped += 1
        kept: deque[Segment] = deque()
        for segment in self._inbox:
            if isinstance(segment, Failed):
                if (segment.message.offset() or 0) < first:
                    kept.append(segment)
                else:
                    dropped += 1
                continue
            index = len(segment.messages)
            while index and (segment.messages[index - 1].offset() or 0) >= first:
                index -= 1
            dropped += len(segment.messages) - index
            if index:
                lanes = segment.lanes[:index] if segment.lanes is not None else None
                kept.append(Keyed(segment.messages[:index], segment.keys[:index], lanes))
        self._inbox = kept
        return dropped

    def release(self, keys: Sequence[Hashable] | None) -> None:
        """Messages with these keys finished or were dropped (``balanced`` bookkeeping)."""
        if self._planner is not None and keys is not None:
            self._planner.release(keys)

    def clear(self) -> None:
        self._inbox.clear()
        self._barrier = None
        self._barrier_running = False
        if self._planner is not None:
            self._planner.clear()

    def _route(self, segment: Segment) -> None:
        if isinstance(segment, Failed):
            self._barrier = segment
            self._on_failed(segment)
            return
        lanes = segment.lanes
        if lanes is None:
            assert self._planner is not None
            loads = [lane.size + _running(lane) for lane in self._lanes]
            lanes = self._planner.plan(segment.keys, loads)
        per_lane: dict[int, tuple[list[confluent_kafka.Message], list[Hashable]]] = {}
        for message, key, lane_index in zip(segment.messages, segment.keys, lanes, strict=True):
            messages, lane_keys = per_lane.setdefault(lane_index, ([], []))
            messages.append(message)
            lane_keys.append(key)
        for lane_index, (messages, lane_keys) in per_lane.items():
            self._lanes[lane_index].push(messages, lane_keys)


def _running(lane: Lane) -> int:
    job = lane.in_flight
    return len(job.messages) if isinstance(job, ConsumeJob) else 0
