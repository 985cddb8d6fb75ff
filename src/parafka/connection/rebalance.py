"""Rebalance: the assign, revoke and lost callbacks, and the registry of coordinators they keep.

Listener thread only: librdkafka runs the callbacks on the thread that polls, inside
``poll()``/``consume()`` (or ``close()``), and the listener's loop reads the registry between
polls. Callbacks of a client that is no longer the handle's current one (replaced, closing on
its helper thread) are ignored. Other threads only read the registry racily, for diagnostics.

Assign: the client takes the partitions (incrementally under cooperative-sticky and KIP-848)
and resumes them (a pause survives revoke and re-assign to the same member); for routes with
virtual partitions, the previous owner's committed metadata says which offsets above the commit
point are already finished; each partition gets a :class:`Coordinator`, which waits for the
newest revoked coordinator of the same partition that still runs (its predecessor). A partition
no route reads is paused and reported.

Revoke and lost: each partition's coordinator leaves the registry and is revoked (its backlog
dropped, ``revoked()`` hooks queued); one that still runs jobs or hooks is retired, and the
listener's sweep drives it (:meth:`Rebalance.drive_retired`) until it is idle. On revoke the
points finished work allows are committed synchronously through the revoking client; on lost
nothing is committed (the partitions may already be someone else's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import confluent_kafka
from confluent_kafka import KafkaException, TopicPartition

from parafka.connection.committer import Committer, commit_offset
from parafka.connection.fetch import Key
from parafka.connection.flow import FlowControl
from parafka.connection.handle import ClientHandle
from parafka.errors import ConfigurationError
from parafka.instrumentation import Monitor
from parafka.processing import progress
from parafka.processing.coordinator import Coordinator
from parafka.processing.workers import JobsQueue
from parafka.routing import Route, SubscriptionGroup

__all__ = ["NewCoordinator", "Rebalance"]

#: Builds an assigned partition's coordinator: ``(route, partition, predecessor, finished)``.
NewCoordinator = Callable[[Route, int, Coordinator | None, Sequence[tuple[int, int]]], Coordinator]


class Rebalance:
    """A subscription group's rebalance callbacks and coordinator registry."""

    def __init__(
        self,
        group: SubscriptionGroup,
        monitor: Monitor,
        jobs: JobsQueue,
        *,
        incremental: bool,
        coordinators: dict[Key, Coordinator],
        handle: ClientHandle,
        flow: FlowControl,
        committer: Committer,
        new_coordinator: NewCoordinator,
        pause: Callable[[Key], None],
        settle: Callable[[], None],
    ) -> None:
        """``coordinators``: the registry of assigned partitions, written only here (the
        listener and the committer read it); ``pause(key)``: the listener pauses a partition
        on the client; ``settle()``: the listener serves pending notifications and commit
        requests, before partitions leave."""
        self._group = group
        self._monitor = monitor
        self._jobs = jobs
        self._incremental = incremental
        self.coordinators = coordinators
        #: Revoked coordinators whose jobs or hooks still run, oldest first per partition: the
        #: sweep keeps driving them until idle; a new owner waits for the newest one.
        self.retired: dict[Key, list[Coordinator]] = {}
        self._handle = handle
        self._flow = flow
        self._committer = committer
        self._new_coordinator = new_coordinator
        self._pause = pause
        self._settle = settle

    def subscribe(self, client: confluent_kafka.Consumer) -> None:
        client.subscribe(
            self._group.topics,
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_lost,
        )

    # -- the callbacks (inside poll/consume/close) -------------------------------------------

    def on_assign(self, client: confluent_kafka.Consumer, partitions: list[TopicPartition]) -> None:
        if client is not self._handle.client:  # a replaced client, closing
            return
        if self._incremental:
            client.incremental_assign(partitions)
        else:
            client.assign(partitions)
        if partitions:
            client.resume(partitions)  # a pause survives revoke + re-assign to the same member
        finished = self._finished_by_previous_owner(client, partitions)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            route = self._group.match(tp.topic)
            if route is None:
                # Assigned, but no route reads it (librdkafka's regex matched where Python's
                # does not, or overlapping subscriptions in one group): leave it unfetched.
                client.pause([tp])
                self._monitor.publish(
                    "error.occurred",
                    type="listener.unrouted",
                    topic=tp.topic,
                    partition=tp.partition,
                    error=ConfigurationError(
                        f"consumer group {self._group.group_id!r}: {tp.topic!r} "
                        f"[{tp.partition}] was assigned but matches none of "
                        f"{self._group.topics}; it is paused and not processed"
                    ),
                )
                continue
            olds = self.retired.get(key)
            predecessor = olds[-1] if olds else None
            coordinator = self._new_coordinator(
                route, tp.partition, predecessor, finished.get(key, ())
            )
            self.coordinators[key] = coordinator
            self._flow.paused.discard(key)
            self._committer.reset(key)
            if self._flow.held:
                coordinator.hold()
                self._pause(key)
        self._monitor.publish(
            "rebalance.assigned",
            group=self._group.group_id,
            partitions=[(tp.topic, tp.partition) for tp in partitions],
        )

    def on_revoke(self, client: confluent_kafka.Consumer, partitions: list[TopicPartition]) -> None:
        if client is not self._handle.client:
            return
        self._give_up(client, partitions, commit=True)
        self._monitor.publish(
            "rebalance.revoked",
            group=self._group.group_id,
            partitions=[(tp.topic, tp.partition) for tp in partitions],
        )

    def on_lost(self, client: confluent_kafka.Consumer, partitions: list[TopicPartition]) -> None:
        if client is not self._handle.client:
            return
        self._give_up(client, partitions, commit=False)
        self._monitor.publish(
            "rebalance.lost",
            group=self._group.group_id,
            partitions=[(tp.topic, tp.partition) for tp in partitions],
        )

    def lose_all(self, client: confluent_kafka.Consumer) -> None:
        """Every partition held is lost (the client is being replaced, still current)."""
        held = [TopicPartition(*key) for key in self.coordinators]
        if held:
            self.on_lost(client, held)

    # -- driven by the listener's loop -------------------------------------------------------

    def drive_retired(self) -> None:
        """Queue what revoked coordinators have due; forget those that became idle."""
        for key in list(self.retired):
            olds = self.retired[key]
            for old in olds:
                for job in old.due():  # revoked() hooks, once their predecessor is idle
                    self._jobs.put(job)
            olds[:] = [old for old in olds if not old.idle]
            if not olds:
                del self.retired[key]

    def all_idle(self) -> bool:
        """No coordinator, assigned or retired, has a job in flight or a hook pending."""
        return all(c.idle for c in self.coordinators.values()) and all(
            old.idle for olds in self.retired.values() for old in olds
        )

    # -- internals -------------------------------------------------------------------------

    def _finished_by_previous_owner(
        self, client: confluent_kafka.Consumer, partitions: list[TopicPartition]
    ) -> dict[Key, list[tuple[int, int]]]:
        """Offsets finished above the commit point, from the committed metadata (virtual
        partitions write it; other routes never have any). Metadata that does not belong to the
        committed offset (moved from outside, foreign, an older format, damaged) is ignored with
        an ``error.occurred`` event of type ``offsets.metadata_ignored``: duplicates, never
        skips."""
        wanted = [
            TopicPartition(tp.topic, tp.partition)
            for tp in partitions
            if (route := self._group.match(tp.topic)) is not None
            and route.virtual_partitions is not None
        ]
        if not wanted:
            return {}
        try:
            committed = client.committed(wanted, timeout=10.0)
        except KafkaException as exc:
            self._monitor.publish("error.occurred", type="offsets.committed_read", error=exc)
            return {}
        finished: dict[Key, list[tuple[int, int]]] = {}
        for tp in committed:
            decoded = progress.decode(tp.offset, tp.metadata)
            if decoded.problem is not None:
                self._monitor.publish(
                    "error.occurred",
                    type="offsets.metadata_ignored",
                    group=self._group.group_id,
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=tp.offset,
                    reason=decoded.problem,
                    detail=decoded.detail,
                )
            if decoded.finished:
                finished[(tp.topic, tp.partition)] = decoded.finished
        return finished

    def _give_up(
        self, client: confluent_kafka.Consumer, partitions: list[TopicPartition], commit: bool
    ) -> None:
        """Partitions leave: commit what finished work allows (unless lost), run ``revoked()``."""
        self._settle()
        offsets = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            coordinator = self.coordinators.pop(key, None)
            self._flow.forget(key)
            self._committer.forget(key)
            if coordinator is None:
                continue
            point, jobs = coordinator.revoke()
            for job in jobs:
                self._jobs.put(job)
            if not coordinator.idle:
                self.retired.setdefault(key, []).append(coordinator)
            if commit and point is not None:
                offsets.append(commit_offset(key, point))
        if offsets:
            self._committer.commit(client, offsets)
