"""Intake for virtual partitions: each fetched message's key and, where it is fixed, its lane.

Runs on the listener thread *outside* the coordinator's lock (it calls user code: the
partitioner, the deserializer it uses, the reducer). It never raises for what user code does:
a message whose key or lane cannot be computed becomes a :class:`Failed` segment that the
coordinator runs alone, after every lane has drained, on lane 0 (so order still holds), and
that then retries, isolates and dead-letters like any other message.

A key fails when the partitioner raises; when it is unhashable; when its hash is its ``id()``
(two equal-looking keys would never meet: order per key could not hold); and, with
``consistent`` distribution, when the reducer raises or returns something other than an int.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parafka.errors import ConfigurationError
from parafka.messages import Deserializers, Message

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.processing.virtual import VirtualPartitions

__all__ = ["Failed", "Intake", "Keyed", "Segment", "without"]


@dataclass(slots=True)
class Keyed:
    """Consecutive messages with their keys; ``lanes`` when the distribution fixes them
    (``consistent``), None when they are planned under the lock (``balanced``)."""

    messages: Sequence[confluent_kafka.Message]
    keys: list[Hashable]
    lanes: list[int] | None


@dataclass(slots=True)
class Failed:
    """One message whose key or lane could not be computed, and why."""

    message: confluent_kafka.Message
    error: BaseException
    source: str  # "partitioner", "reducer", "key"


Segment = Keyed | Failed

_SAFE_KEY_TYPES: set[type] = {str, bytes, int, bool, float, type(None)}
#: Keys of these types are always hashable by value: ``balanced`` takes them without a check.
_PLAIN_KEY_TYPES = frozenset(_SAFE_KEY_TYPES)


def _identity_hashed(key: object) -> bool:
    kind = type(key)
    if kind in _SAFE_KEY_TYPES:
        return False
    if kind.__hash__ is object.__hash__ and kind.__eq__ is object.__eq__:
        return True
    _SAFE_KEY_TYPES.add(kind)  # a type that defines its own hash (tuple, enum, dataclass...)
    return False


class Intake:
    """Splits a fetched chunk into segments (see the module docstring). Not thread-safe: only
    the listener thread calls it."""

    def __init__(
        self, options: VirtualPartitions, lanes: int, deserializers: Deserializers[Any]
    ) -> None:
        self._partitioner = options.partitioner
        self._reducer = options.reducer
        self._consistent = options.distribution == "consistent"
        self._lanes = lanes
        self._deserializers = deserializers  # the route's: the partitioner sees message.key

    def segments(self, chunk: Sequence[confluent_kafka.Message]) -> list[Segment]:
        segments: list[Segment] = []
        start = 0
        keys: list[Hashable] = []
        lanes: list[int] | None = [] if self._consistent else None
        partitioner, deserializers = self._partitioner, self._deserializers
        for index, raw in enumerate(chunk):
            try:
                key = partitioner(Message(raw, deserializers))
            except Exception as exc:
                outcome: tuple[Hashable, int] | Failed = Failed(raw, exc, "partitioner")
            else:
                if lanes is None and type(key) in _PLAIN_KEY_TYPES:  # the usual key: no checks
                    keys.append(key)
                    continue
                outcome = self._checked(raw, key)
            if isinstance(outcome, Failed):
                if index > start:
                    segments.append(Keyed(chunk[start:index], keys, lanes))
                segments.append(outcome)
                start = index + 1
                keys = []
                lanes = [] if self._consistent else None
                continue
            key, lane = outcome
            keys.append(key)
            if lanes is not None:
                lanes.append(lane)
        if start < len(chunk):
            segments.append(Keyed(chunk if start == 0 else chunk[start:], keys, lanes))
        return segments

    def _checked(self, raw: confluent_kafka.Message, key: Any) -> tuple[Hashable, int] | Failed:
        """The partitioner's ``key`` for ``raw`` checked (and reduced to a lane for
        ``consistent``), or why it cannot be used."""
        try:
            hash(key)
        except TypeError as exc:
            return Failed(
                raw,
                ConfigurationError(
                    f"the partitioner returned an unhashable key of type "
                    f"{type(key).__name__} ({exc}); return a str, bytes, int or tuple"
                ),
                "key",
            )
        if _identity_hashed(key):
            return Failed(
                raw,
                ConfigurationError(
                    f"the partitioner returned a {type(key).__qualname__} whose hash is its id(): "
                    f"equal keys would not stay in order; return a str, bytes, int or tuple, or "
                    f"define __hash__ and __eq__"
                ),
                "key",
            )
        if not self._consistent:
            return key, 0
        reducer = self._reducer
        try:
            reduced = reducer(key)
        except Exception as exc:
            return Failed(raw, exc, "reducer")
        if isinstance(reduced, bool) or not isinstance(reduced, int):
            name = getattr(reducer, "__qualname__", repr(reducer))
            return Failed(
                raw,
                ConfigurationError(
                    f"the reducer {name} returned {reduced!r} ({type(reduced).__name__}) for key "
                    f"{key!r}; it must return an int"
                ),
                "reducer",
            )
        return key, reduced % self._lanes


def without(segments: list[Segment], dropped: set[int]) -> list[Segment]:
    """``segments`` without the messages at the ``dropped`` offsets."""
    kept: list[Segment] = []
    for segment in segments:
        if isinstance(segment, Failed):
            if (segment.message.offset() or 0) not in dropped:
                kept.append(segment)
            continue
        keep = [i for i, m in enumerate(segment.messages) if (m.offset() or 0) not in dropped]
        if len(keep) == len(segment.messages):
            kept.append(segment)
        elif keep:
            lanes = [segment.lanes[i] for i in keep] if segment.lanes is not None else None
            kept.append(
                Keyed([segment.messages[i] for i in keep], [segment.keys[i] for i in keep], lanes)
            )
    return kept
