"""The in-memory cluster: topics (one log per partition), consumer groups, committed offsets.

It behaves like a single broker with topic auto-creation for what parafka uses: producing
appends to a partition's log (chosen like librdkafka's default partitioner, ``consistent_random``:
CRC32 of the key; round robin for a message without a key or with an empty one, which
librdkafka spreads at random), a consumer group gives each partition of a subscribed topic to
one of its members, commits keep an offset and its metadata per (group, topic, partition).
A transaction (:meth:`Cluster.append_marker`) leaves offsets no consumer is given: its control
record, and the records of an aborted one (what a ``read_committed`` consumer sees).

Rebalances are explicit: a partition is assigned automatically when a member subscribed to its
topic polls and nobody holds it (never assigned, or its member left the group), and otherwise
only when the test asks (the harness's ``assign``, ``revoke`` and ``lose``). The members
(:mod:`parafka.testing.client`) learn about it inside their next ``poll()``, as librdkafka's
callbacks run.

Threads: none. The harness's thread is the only one that calls it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import confluent_kafka

from parafka.errors import ParafkaError

if TYPE_CHECKING:
    from parafka.testing.client import MemoryConsumer

__all__ = ["Cluster", "HarnessError", "Key", "subscribed"]

#: A partition: (topic, partition).
Key = tuple[str, int]

#: The wall-clock time of the fake clock's zero (message timestamps), in milliseconds:
#: 2026-01-01T00:00:00Z.
EPOCH_MS = 1_767_225_600_000


class HarnessError(ParafkaError):
    """A test asked the harness for something that cannot be (the message says what)."""


@dataclass
class Topic:
    """A topic's logs, one per partition, and every message in the order it was written.

    A log entry of None is an offset no consumer is given (a transaction's control record, an
    aborted transaction's record); ``written`` has the visible messages only."""

    name: str
    logs: list[list[confluent_kafka.Message | None]]
    written: list[confluent_kafka.Message] = field(default_factory=list)
    next_unkeyed: int = 0  # round robin for messages without a key and a partition


@dataclass
class Group:
    """A consumer group: its members (in joining order) and who owns which partition.

    ``owners`` maps each partition that was ever assigned to its member, or to None when the
    test revoked or lost it (it stays unassigned until the test assigns it again)."""

    name: str
    members: list[MemoryConsumer] = field(default_factory=list)
    owners: dict[Key, MemoryConsumer | None] = field(default_factory=dict)
    committed: dict[Key, tuple[int, str | None]] = field(default_factory=dict)


class Cluster:
    """Topics and consumer groups in memory (see the module doc)."""

    def __init__(self, default_partitions: int = 1) -> None:
        self.default_partitions = default_partitions
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        #: Grows whenever a topic or partition appears: members then look for new work.
        self.version = 0
        #: Log entries written so far (messages and markers), on every topic.
        self.writes = 0

    # -- topics ----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int) -> Topic:
        """Create ``name`` with ``partitions`` partitions; an existing topic must match."""
        if not isinstance(name, str) or not name or name.startswith("^"):
            raise HarnessError(f"not a topic name: {name!r}")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise HarnessError(
                f"topic {name!r}: partitions must be an int >= 1, got {partitions!r}"
            )
        topic = self.topics.get(name)
        if topic is not None:
            if len(topic.logs) != partitions:
                raise HarnessError(
                    f"topic {name!r} already exists with {len(topic.logs)} partition(s), "
                    f"not {partitions}"
                )
            return topic
        topic = self.topics[name] = Topic(name, [[] for _ in range(partitions)])
        self.version += 1
        return topic

    def topic(self, name: str) -> Topic:
        """The topic, created with the default partition count if it does not exist (as a
        broker with ``auto.create.topics.enable`` does on a produce)."""
        topic = self.topics.get(name)
        return topic if topic is not None else self.create_topic(name, self.default_partitions)

    def existing(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            known = ", ".join(sorted(self.topics)) or "none"
            raise HarnessError(f"no topic {name!r} in the harness (topics: {known})")
        return topic

    def check_partition(self, name: str, partition: int) -> Topic:
        topic = self.existing(name)
        count = len(topic.logs)
        if isinstance(partition, bool) or not isinstance(partition, int):
            raise HarnessError(f"topic {name!r}: partition must be an int, got {partition!r}")
        if not 0 <= partition < count:
            raise HarnessError(
                f"topic {name!r} has {count} partition(s) (0-{count - 1}): no partition {partition}"
            )
        return topic

    def append(
        self,
        name: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        headers: Sequence[tuple[str, bytes | None]] | None,
        timestamp_ms: int,
        *,
        visible: bool = True,
    ) -> confluent_kafka.Message:
        """Write one message; its partition is ``partition``, or chosen from the key. Not
        ``visible``: the record of an aborted transaction, which takes its offset but no
        consumer is given."""
        topic = self.topic(name)
        count = len(topic.logs)
        if partition is None:
            if key:
                partition = zlib.crc32(key) % count  # librdkafka's consistent_random
            else:
                partition = topic.next_unkeyed % count
                topic.next_unkeyed += 1
        else:
            self.check_partition(name, partition)
        log = topic.logs[partition]
        message = confluent_kafka.Message(
            topic=name,
            partition=partition,
            offset=len(log),
            key=key,
            value=value,
            headers=list(headers) if headers else None,
            timestamp=(confluent_kafka.TIMESTAMP_CREATE_TIME, timestamp_ms),
        )
        log.append(message if visible else None)
        self.writes += 1
        if visible:
            topic.written.append(message)
        return message

    def append_marker(self, key: Key) -> None:
        """A transaction's control record (commit or abort marker): an offset with no message."""
        self.check_partition(*key)
        self.existing(key[0]).logs[key[1]].append(None)
        self.writes += 1

    def end(self, key: Key) -> int:
        return len(self.existing(key[0]).logs[key[1]])

    def partitions_matching(self, subscription: Sequence[str]) -> list[Key]:
        """Every partition of the topics a subscription names (``^...``: a pattern, matched
        from the start of the name as librdkafka does), in name and partition order."""
        found: list[Key] = []
        for name in sorted(self.topics):
            if any(subscribed(entry, name) for entry in subscription):
                found.extend((name, index) for index in range(len(self.topics[name].logs)))
        return found

    # -- groups ----------------------------------------------------------------------------

    def group(self, name: str) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name)
        return group

    def join(self, group_id: str, member: MemoryConsumer) -> None:
        self.group(group_id).members.append(member)

    def leave(self, group_id: str, member: MemoryConsumer) -> None:
        """A member closed: its partitions go to the next member subscribed to their topic
        that polls (another member of the group, or one that joins later)."""
        group = self.group(group_id)
        if member in group.members:
            group.members.remove(member)
        freed = [key for key, owner in group.owners.items() if owner is member]
        for key in freed:
            del group.owners[key]
        if freed:
            self.version += 1

    def unassigned_for(self, group_id: str, member: MemoryConsumer) -> list[Key]:
        """Partitions of ``member``'s subscription nobody in its group holds (never assigned,
        or their member left; not those a test revoked), that no earlier member subscribed to
        the same topic would take: they go to ``member``."""
        group = self.group(group_id)
        new: list[Key] = []
        for key in self.partitions_matching(member.subscription):
            if key in group.owners:
                continue
            first = next(m for m in group.members if m.subscribes(key[0]))
            if first is member:
                group.owners[key] = member
                new.append(key)
        return new

    def owner(self, group_id: str, key: Key) -> MemoryConsumer | None:
        return self.group(group_id).owners.get(key)

    def commit(self, group_id: str, key: Key, offset: int, metadata: str | None) -> None:
        self.group(group_id).committed[key] = (offset, metadata)

    def committed(self, group_id: str, key: Key) -> tuple[int, str | None] | None:
        return self.group(group_id).committed.get(key)


def subscribed(entry: str, topic: str) -> bool:
    """True if a subscription entry (a name, or a ``^...`` pattern) covers ``topic``."""
    if entry.startswith("^"):
        return re.search(entry, topic) is not None
    return entry == topic
