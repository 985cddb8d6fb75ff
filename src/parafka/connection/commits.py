"""What a commit did: which partitions it committed and which failed, with their errors.

Pure: no client, no I/O. The committer (:mod:`parafka.connection.committer`) reads both kinds
of result with it: the ``on_commit`` callback of an asynchronous commit (``(error,
partitions)``, run on the listener thread inside ``poll()``) and the list a synchronous
``commit(asynchronous=False)`` returns, whose partitions carry their own ``.error``.

``_NO_OFFSET`` (nothing to commit) is not a failure, neither for the request nor for a
partition. When the request itself failed, a partition without its own error is counted as
failed with the request's error: whether the broker took it is unknown, so it is not reported
as committed (librdkafka sets the request's error on every partition in that case anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import KafkaError

__all__ = ["CommitResult", "read_commit"]

Key = tuple[str, int]


class Partition(Protocol):
    """What is read of each ``confluent_kafka.TopicPartition`` of a commit's result."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def error(self) -> KafkaError | None: ...


@dataclass(frozen=True)
class CommitResult:
    """Offsets a commit moved, and the partitions it did not move with the reason."""

    committed: dict[Key, int] = field(default_factory=dict)
    failed: dict[Key, tuple[int, KafkaError]] = field(default_factory=dict)
    #: The request's own error when it failed without naming any partition.
    error: KafkaError | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def first_error(self) -> KafkaError | None:
        """The error to report for the whole commit: the request's, else a partition's."""
        if self.error is not None:
            return self.error
        for _offset, error in self.failed.values():
            return error
        return None


def _is_error(error: KafkaError | None) -> bool:
    return error is not None and error.code() != KafkaError._NO_OFFSET


def read_commit(error: KafkaError | None, partitions: Sequence[Partition]) -> CommitResult:
    """Split a commit's outcome into committed and failed partitions (see the module doc)."""
    request_error = error if _is_error(error) else None
    committed: dict[Key, int] = {}
    failed: dict[Key, tuple[int, KafkaError]] = {}
    for tp in partitions:
        key = (tp.topic, tp.partition)
        own = tp.error if _is_error(tp.error) else None
        if own is not None:
            failed[key] = (tp.offset, own)
        elif request_error is not None:
            failed[key] = (tp.offset, request_error)
        elif tp.offset >= 0 and tp.error is None:
            committed[key] = tp.offset
    unexplained = request_error if request_error is not None and not failed else None
    return CommitResult(committed, failed, unexplained)
