"""Committing offsets: the commit points recorded per partition, the periodic asynchronous
commit, synchronous commits, and consumers' requests to commit now.

librdkafka neither stores nor commits offsets on its own (``enable.auto.commit`` is off). When
a coordinator's commit point changes the listener records it (:meth:`Committer.record`,
``offsets.stored``): the offset and the tracker's revision (see ``Coordinator.progress``), so
that the metadata is encoded only when committing. Every ``auto.commit.interval.ms`` (1 s by
default) the listener commits the points recorded since the last commit, asynchronously, with
their metadata (:meth:`Committer.commit_recorded`). It commits at once, synchronously, the
points of partitions being revoked, at shutdown, and when a consumer asks (``commit_now``).
Results are read (:mod:`parafka.connection.commits`) from the ``on_commit`` callback and from
what a sync commit returns: committed offsets are published (``offsets.committed``), failures of
the request or of single partitions become ``error.occurred`` events of type
``offsets.commit``, and a failed asynchronous commit is sent again at the next interval. Not
librdkafka's auto-commit: it commits a partition only when the offset grew, so progress written
in the metadata at an unchanged offset (virtual partitions) would never reach the broker.

Threads:

- the listener thread owns the recorded points and calls everything here but
  :meth:`Committer.request`; ``on_commit`` (:meth:`Committer.committed`) runs on it inside
  ``poll()``;
- any thread (a worker in ``Consumer.commit_now``) calls :meth:`Committer.request`, which
  returns a ``Future`` the listener thread resolves (:meth:`Committer.serve_requests`);
- the closer thread of a bounded close calls :meth:`Committer.commit` with the client it now
  owns (the final commit), and runs the ``on_commit`` of a closing client: neither touches the
  recorded points.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence
from concurrent.futures import Future

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from parafka.connection.commits import CommitResult, read_commit
from parafka.connection.fetch import Key
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import Coordinator

__all__ = ["Committer", "commit_offset"]


class Committer:
    """A subscription group's commit points and commits (see the module doc for threads)."""

    def __init__(
        self,
        group_id: str,
        monitor: Monitor,
        coordinators: Mapping[Key, Coordinator],
        interval: float,
    ) -> None:
        self._group_id = group_id
        self._monitor = monitor
        #: The assigned partitions' coordinators (the listener's registry; read here).
        self._coordinators = coordinators
        #: Seconds between asynchronous commits (``auto.commit.interval.ms``).
        self.interval = interval
        # Listener-thread state: the commit point last recorded per partition (its offset and
        # the tracker's revision, see Coordinator.progress: the metadata is encoded only when
        # committing), and the partitions whose recorded point has not been committed yet
        # (sent at the next interval; again after a failure).
        self._stored: dict[Key, tuple[int, int]] = {}
        self._uncommitted: set[Key] = set()
        # Cross-thread hand-off: consumers' requests to commit now (any thread puts, the
        # listener thread takes and resolves each Future).
        self._requests: queue.SimpleQueue[tuple[Coordinator, Future[bool]]] = queue.SimpleQueue()

    # -- called from any thread --------------------------------------------------------------

    def request(self, coordinator: Coordinator) -> Future[bool]:
        """Ask for ``coordinator``'s point to be committed synchronously; the Future says True
        once committed, False if the partition is no longer assigned or the commit failed. The
        caller wakes the listener thread and waits."""
        done: Future[bool] = Future()
        self._requests.put((coordinator, done))
        return done

    # -- the listener thread ---------------------------------------------------------------

    def serve_requests(self, client: confluent_kafka.Consumer) -> None:
        """Commit what consumers asked for, through ``client``, and resolve their Futures."""
        while True:
            try:
                coordinator, done = self._requests.get_nowait()
            except queue.Empty:
                return
            key = (coordinator.topic, coordinator.partition)
            point = coordinator.commit_point()
            if self._coordinators.get(key) is not coordinator or point is None:
                done.set_result(False)
                continue
            done.set_result(self.commit(client, [commit_offset(key, point)]))

    def record(self, changed: Sequence[tuple[Key, Coordinator]]) -> None:
        """Notified coordinators (assigned ones): record each new commit point, to be committed
        within one interval, and publish them (``offsets.stored``)."""
        offsets: dict[Key, int] = {}
        stored = self._stored
        for key, coordinator in changed:
            point = coordinator.progress()
            if point is not None and point != stored.get(key):
                offsets[key] = point[0]
                stored[key] = point
        if offsets:
            self._uncommitted.update(offsets)
            if self._monitor.listens("offsets.stored"):
                self._monitor.publish("offsets.stored", group=self._group_id, offsets=offsets)

    def reset(self, key: Key) -> None:
        """The partition was assigned or sought: its next commit point is recorded even if it
        equals the last one."""
        self._stored.pop(key, None)

    def forget(self, key: Key) -> None:
        """The partition left: nothing recorded for it is committed any more."""
        self._stored.pop(key, None)
        self._uncommitted.discard(key)

    def commit_recorded(self, client: confluent_kafka.Consumer) -> None:
        """Every ``auto.commit.interval.ms``: commit, without waiting, the points recorded since
        the last commit; the result comes back through ``on_commit``."""
        keys = []
        offsets = []
        for key in self._uncommitted:
            coordinator = self._coordinators.get(key)
            # Encoded now, at most once per partition and interval: the point as it stands,
            # at or past the one recorded (both are finished work).
            point = (
                None
                if coordinator is None or key not in self._stored
                else coordinator.commit_point()
            )
            if point is not None:
                keys.append(key)
                offsets.append(commit_offset(key, point))
        self._uncommitted.clear()
        if not keys:
            return
        try:
            client.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            self._uncommitted.update(keys)  # try again at the next interval
            self._publish(_all_failed(offsets, exc), asynchronous=True, exc=exc)

    def committed(self, result: CommitResult, current: bool) -> None:
        """``on_commit`` of an asynchronous commit (inside ``poll()``/``close()``): publish it;
        failed partitions still assigned are committed again at the next interval. Only when
        ``current``: the callback runs on the listener thread for its current client (a
        closing client's thread owns nothing here)."""
        self._publish(result, asynchronous=True)
        if result.failed and current:
            self._uncommitted.update(key for key in result.failed if key in self._coordinators)

    # -- the listener thread, or the closer thread with the client it owns -----------------

    def commit(self, client: confluent_kafka.Consumer, offsets: list[TopicPartition]) -> bool:
        """Commit ``offsets`` synchronously through ``client`` (revoke and ``commit_now`` on the
        listener thread, the final commit on the closer thread); False if the commit or any of
        its partitions failed (published as ``offsets.commit`` errors)."""
        try:
            returned = client.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return True
            # librdkafka fails the whole call when any partition fails, without saying which:
            # every partition is reported with the error.
            self._publish(_all_failed(offsets, exc), asynchronous=False, exc=exc)
            return False
        result = read_commit(None, returned or [])
        self._publish(result, asynchronous=False)
        return result.ok

    def _publish(
        self, result: CommitResult, asynchronous: bool, exc: KafkaException | None = None
    ) -> None:
        """``offsets.committed`` for what was committed; one ``error.occurred`` event of type
        ``offsets.commit`` for what failed, with each failed partition's offset and error."""
        if result.committed:
            self._monitor.publish(
                "offsets.committed", group=self._group_id, offsets=result.committed
            )
        error = result.first_error()
        if exc is None and error is None:
            return
        self._monitor.publish(
            "error.occurred",
            type="offsets.commit",
            group=self._group_id,
            asynchronous=asynchronous,
            error=exc if exc is not None else KafkaException(error),
            offsets={key: offset for key, (offset, _error) in result.failed.items()},
            errors={key: failure for key, (_offset, failure) in result.failed.items()},
        )


def commit_offset(key: Key, point: tuple[int, str]) -> TopicPartition:
    """What to commit for a partition: its commit point's offset and metadata."""
    offset, metadata = point
    if metadata:
        return TopicPartition(key[0], key[1], offset, metadata=metadata)
    return TopicPartition(key[0], key[1], offset)  # metadata=None is refused


def _all_failed(offsets: list[TopicPartition], exc: KafkaException) -> CommitResult:
    """A commit call that raised: each of its partitions failed with the call's error."""
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return CommitResult()
    return CommitResult(failed={(tp.topic, tp.partition): (tp.offset, error) for tp in offsets})
