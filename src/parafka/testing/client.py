"""The in-memory cluster's clients: the part of ``confluent_kafka.Consumer`` a listener calls,
and the app's producer (:class:`~parafka.producing.Sender`).

:class:`MemoryConsumer` answers ``subscribe``, ``poll``/``consume`` (with the rebalance and
``on_commit`` callbacks run inside them, as librdkafka does), ``assign``/``incremental_assign``,
``pause``/``resume``, ``seek``, ``position``, ``committed``, ``commit`` (synchronous, or
asynchronous with its result at the next poll), ``get_watermark_offsets`` and ``close``. It
fetches nothing ahead: a message leaves its log when a poll returns it. With
``enable.partition.eof`` it reports the end of a partition once per time it is reached.

Eager protocols (librdkafka's default) revoke a member's whole assignment on every rebalance
and assign it again; cooperative-sticky and KIP-848 (``group.protocol=consumer``) move only the
partitions concerned. A loss (the harness's ``lose``) is known to the group at once: the
member's commits of the lost partitions fail from then on, and its ``on_lost`` runs at its next
poll, as when a session expires while the member is busy.

Threads: none of its own. The harness's thread calls everything (the listener's closer thread
may call ``commit`` and ``close`` while the harness waits for it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from parafka.connection.client import is_incremental
from parafka.serializers import Headers
from parafka.testing.cluster import Cluster, Key, subscribed

__all__ = ["MemoryConsumer", "MemoryProducer"]

#: librdkafka's "no offset" (``OFFSET_INVALID``).
_INVALID = -1001

Callback = Callable[[Any, list[TopicPartition]], None]


class MemoryConsumer:
    """A consumer group member of the in-memory cluster (see the module doc)."""

    def __init__(self, cluster: Cluster, config: Mapping[str, Any]) -> None:
        self._cluster = cluster
        self.group_id = str(config["group.id"])
        self._incremental = is_incremental(config)
        reset = str(config.get("auto.offset.reset", "earliest")).lower()
        self._from_end = reset in ("latest", "largest", "end")
        self._eof = str(config.get("enable.partition.eof", "false")).lower() == "true"
        self._on_commit: Callable[[KafkaError | None, list[TopicPartition]], None] | None = (
            config.get("on_commit")
        )
        self.subscription: list[str] = []
        self._on_assign: Callback | None = None
        self._on_revoke: Callback | None = None
        self._on_lost: Callback | None = None
        #: Assigned partitions and their fetch positions (next offset to hand out).
        self._fetch_at: dict[Key, int] = {}
        #: What ``position()`` answers: the offset after the last message handed out.
        self._position: dict[Key, int] = {}
        self._paused: set[Key] = set()
        #: The furthest fetch position per partition ever (a seek back does not lower it).
        self._furthest: dict[Key, int] = {}
        #: The position last answered per partition (a new one counts as activity).
        self._told: dict[Key, int] = {}
        self._eof_at: dict[Key, int] = {}
        #: Partitions lost but not yet told (the loss is delivered at the next poll): the
        #: group no longer counts this member as their owner and refuses its commits.
        self._fenced: set[Key] = set()
        self._rebalances: deque[tuple[str, list[Key]]] = deque()
        self._commit_results: deque[list[TopicPartition]] = deque()
        self._seen_version = -1
        self._cursor = 0
        self._start = 0
        self.closed = False
        #: Messages handed out and callbacks run (the harness's measure of progress).
        self.activity = 0

    def __repr__(self) -> str:
        return f"MemoryConsumer(group={self.group_id!r}, subscription={self.subscription})"

    # -- what the harness asks ------------------------------------------------------------

    def subscribes(self, topic: str) -> bool:
        return any(subscribed(entry, topic) for entry in self.subscription)

    @property
    def reach(self) -> int:
        """How far this member ever fetched, summed over partitions (grows with progress)."""
        return sum(self._furthest.values())

    @property
    def assignment(self) -> list[Key]:
        return list(self._fetch_at)

    def rebalance(self, kind: str, keys: list[Key]) -> None:
        """Queue a rebalance (``assign``, ``revoke`` or ``lost``); it runs at the next poll.
        A loss is at once a fact at the group: commits of the lost partitions fail from now
        on, before the member learns it (its session expired while it was busy)."""
        if kind == "lost":
            self._fenced.update(keys)
        self._rebalances.append((kind, keys))

    # -- confluent_kafka.Consumer ---------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None:
        self.subscription = list(topics)
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._cluster.join(self.group_id, self)

    def poll(self, timeout: float | None = None) -> confluent_kafka.Message | None:
        self._serve()
        fetched = self._fetch(1, first=True)
        return fetched[0] if fetched else None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[confluent_kafka.Message]:
        self._serve()
        return self._fetch(num_messages, first=False)

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._fetch_at.clear()
        self._position.clear()
        self.incremental_assign(partitions)

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._fenced.discard(key)
            self._fetch_at[key] = tp.offset if tp.offset >= 0 else self._start_offset(key)
            self._position.pop(key, None)
            self._eof_at.pop(key, None)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._forget((tp.topic, tp.partition))

    def unassign(self) -> None:
        for key in list(self._fetch_at):
            self._forget(key)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def seek(self, partition: TopicPartition) -> None:
        key = (partition.topic, partition.partition)
        if key not in self._fetch_at:
            raise KafkaException(KafkaError(KafkaError._STATE, f"{key} is not assigned"))
        self._fetch_at[key] = partition.offset
        self._position[key] = partition.offset
        self._eof_at.pop(key, None)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        found = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            offset = self._position.get(key, _INVALID)
            if self._told.get(key) != offset:
                self._told[key] = offset
                self.activity += 1  # news for the listener (a position past markers)
            found.append(TopicPartition(tp.topic, tp.partition, offset))
        return found

    def committed(
        self, partitions: list[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        found = []
        for tp in partitions:
            point = self._cluster.committed(self.group_id, (tp.topic, tp.partition))
            if point is None:
                found.append(TopicPartition(tp.topic, tp.partition, _INVALID))
            elif point[1]:
                found.append(TopicPartition(tp.topic, tp.partition, point[0], metadata=point[1]))
            else:
                found.append(TopicPartition(tp.topic, tp.partition, point[0]))
        return found

    def commit(
        self,
        message: confluent_kafka.Message | None = None,
        offsets: list[TopicPartition] | None = None,
        asynchronous: bool = True,
    ) -> list[TopicPartition] | None:
        """Store ``offsets`` in the group. A partition this member does not own is refused
        (as a broker refuses a member of an older generation), the whole call with it."""
        if offsets is None:
            raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "nothing to commit"))
        for tp in offsets:
            key = (tp.topic, tp.partition)
            if key not in self._fetch_at or key in self._fenced or self.closed:
                raise KafkaException(
                    KafkaError(
                        KafkaError.ILLEGAL_GENERATION,
                        f"{tp.topic} [{tp.partition}] is not assigned to this member",
                    )
                )
        committed = []
        for tp in offsets:
            self._cluster.commit(self.group_id, (tp.topic, tp.partition), tp.offset, tp.metadata)
            committed.append(TopicPartition(tp.topic, tp.partition, tp.offset))
        if asynchronous:
            self._commit_results.append(committed)
            return None
        return committed

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return 0, self._cluster.end((partition.topic, partition.partition))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._cluster.leave(self.group_id, self)

    # -- internals -----------------------------------------------------------------------

    def _start_offset(self, key: Key) -> int:
        point = self._cluster.committed(self.group_id, key)
        if point is not None and point[0] >= 0:
            return point[0]
        return self._cluster.end(key) if self._from_end else 0

    def _forget(self, key: Key) -> None:
        self._fetch_at.pop(key, None)
        self._position.pop(key, None)
        self._paused.discard(key)
        self._eof_at.pop(key, None)

    def _serve(self) -> None:
        """What librdkafka does inside a poll: commit results, then rebalances."""
        if self.closed:
            raise KafkaException(KafkaError(KafkaError._STATE, "the consumer is closed"))
        while self._commit_results:
            result = self._commit_results.popleft()
            self.activity += 1
            if self._on_commit is not None:
                self._on_commit(None, result)
        if self._seen_version != self._cluster.version:
            self._seen_version = self._cluster.version
            new = self._cluster.unassigned_for(self.group_id, self)
            if new:
                self._rebalances.append(("assign", new))
        while self._rebalances:
            kind, keys = self._rebalances.popleft()
            self.activity += 1
            self._run_rebalance(kind, keys)

    def _run_rebalance(self, kind: str, keys: list[Key]) -> None:
        current = list(self._fetch_at)
        if kind == "lost":
            self._call(self._on_lost, keys)
            for key in keys:
                self._forget(key)
            return
        if self._incremental:
            if kind == "assign":
                self._call(self._on_assign, keys, assign=True)
            else:
                self._call(self._on_revoke, keys)
                for key in keys:
                    self._forget(key)
            return
        # Eager: everything is revoked, then the new assignment is given whole.
        if current:
            self._call(self._on_revoke, current)
            for key in current:
                self._forget(key)
        kept = [key for key in current if key not in keys] if kind == "revoke" else current
        new = kept + ([key for key in keys if key not in kept] if kind == "assign" else [])
        self._call(self._on_assign, new, assign=True)

    def _call(self, callback: Callback | None, keys: list[Key], assign: bool = False) -> None:
        partitions = [TopicPartition(*key) for key in keys]
        if callback is not None:
            callback(self, partitions)
        elif assign:
            self.incremental_assign(partitions)

    def _fetch(self, limit: int, first: bool) -> list[confluent_kafka.Message]:
        """Up to ``limit`` messages, partition by partition in runs. A poll (``first``)
        starts at the partition after the previous poll's; the ``consume`` that follows it
        goes on from where the poll took its message."""
        keys = [key for key in self._fetch_at if key not in self._paused]
        if not keys or limit <= 0:
            return []
        start = self._cursor % len(keys) if first else self._start % len(keys)
        ordered = keys[start:] + keys[:start]
        out: list[confluent_kafka.Message] = []
        for index, key in enumerate(ordered):
            if len(out) >= limit:
                break
            log = self._cluster.existing(key[0]).logs[key[1]]
            at = self._fetch_at[key]
            taken: list[confluent_kafka.Message] = []
            # Offsets with no message (transaction markers, aborted records) are passed over,
            # the position with them, as librdkafka does under read_committed.
            while at < len(log) and len(out) + len(taken) < limit:
                entry = log[at]
                at += 1
                if entry is not None:
                    taken.append(entry)
            if at != self._fetch_at[key]:
                if taken and first and not out:
                    self._start = (start + index) % len(keys)
                    self._cursor = self._start + 1
                out.extend(taken)
                self._fetch_at[key] = at
                self._position[key] = at
                self._furthest[key] = max(self._furthest.get(key, 0), at)
                if not taken:
                    self.activity += 1  # the position moved: the listener has news
            if self._eof and at >= len(log) and self._eof_at.get(key) != at and len(out) < limit:
                self._eof_at[key] = at
                out.append(
                    confluent_kafka.Message(
                        topic=key[0],
                        partition=key[1],
                        offset=at,
                        error=KafkaError(KafkaError._PARTITION_EOF),
                    )
                )
        self.activity += len(out)
        return out


class MemoryProducer:
    """The app's producer in the harness: writes at once, never fails (any thread)."""

    def __init__(self, cluster: Cluster, now_ms: Callable[[], int]) -> None:
        self._cluster = cluster
        self._now_ms = now_ms

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        timeout: float = 60.0,
    ) -> None:
        self._cluster.append(topic, value, key, None, _as_bytes(headers), self._now_ms())

    async def send_async(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.send(topic, value, key, headers)


def _as_bytes(headers: Headers | None) -> list[tuple[str, bytes | None]] | None:
    """Header values as a broker gives them back: bytes (str encoded as UTF-8) or None."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [
        (str(name), value.encode() if isinstance(value, str) else value) for name, value in items
    ]
