"""``parafka.testing.Harness``: an app's routes run by the real engine on an in-memory cluster,
with a fake clock, on the test's own thread.

What is real: each subscription group's :class:`~parafka.connection.listener.Listener` (its
fetch, flow control, committer and rebalance callbacks), the coordinators, lanes, offset
trackers, retries, dead letters, consumer instances and their hooks, the event loop that runs
``async def consume``. What is not: the Kafka client (:mod:`parafka.testing.client` over
:mod:`parafka.testing.cluster`), the threads (the harness calls ``Listener.step()`` and runs
each job itself, in the order the jobs queue gives them) and time (:class:`FakeClock`, the
coordinators' clock: back-offs, pauses and ``max_wait_time`` move only with :meth:`advance`).

Threads: one. Everything runs on the thread that calls the harness (a listener's bounded
close still hands its client to a short-lived closer thread, and waits for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import confluent_kafka

from parafka.app import App
from parafka.connection.budget import BufferBudget
from parafka.connection.listener import Listener
from parafka.consumer import Consumer
from parafka.deserializers import raw_deserializer
from parafka.instrumentation import Event, EventName, Monitor
from parafka.messages import Deserializer, Message, Messages
from parafka.processing.coordinator import Coordinator
from parafka.processing.coroutines import CoroutineRunner
from parafka.processing.jobs import ConsumeJob, Job
from parafka.processing.workers import JobsQueue
from parafka.routing import Route, SubscriptionGroup
from parafka.serializers import Headers, Serializer, serialize, serialize_headers
from parafka.testing import builders
from parafka.testing.client import MemoryConsumer, MemoryProducer
from parafka.testing.cluster import EPOCH_MS, Cluster, HarnessError, Key

__all__ = ["FakeClock", "Harness", "HarnessError", "HarnessMonitor"]

#: Rounds of the driver (every listener steps, every job runs) before ``run()`` gives up on
#: an app that never stops working (a consumer that seeks back for ever, say).
MAX_ROUNDS = 100_000

#: Rounds in a row in which no member fetched further than before and nothing was written,
#: after which ``run()`` gives up on an app going round in circles (a consumer that seeks back
#: for ever): it ends in a :class:`HarnessError` within a second, not after ``MAX_ROUNDS``.
MAX_IDLE_ROUNDS = 1_000


class FakeClock:
    """Monotonic seconds that move only when told (:meth:`Harness.advance`); starts at 0."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class HarnessMonitor(Monitor):
    """A harness's own monitor: the engine it drives publishes here; each event is kept (for
    :attr:`Harness.events`) and passed on to the app's monitor, whose subscribers see it as in
    production. Two harnesses of one app therefore never see each other's events, and a
    harness leaves no subscription on the app."""

    def __init__(self, app_monitor: Monitor) -> None:
        super().__init__()
        self._app_monitor = app_monitor
        self.events: list[Event] = []

    def listens(self, name: EventName) -> bool:
        return True  # every event is kept

    def publish(self, name: EventName, **payload: Any) -> None:
        self.events.append(Event(name, payload))
        self._app_monitor.publish(name, **payload)


class Harness:
    """Run ``app``'s consumers without a broker; see the README's "Testing your consumers".

    ``partitions``: how many partitions a topic gets when the harness creates it (a routed
    topic at start, any other at its first produce), as one number or per topic name; a
    route's ``config=TopicConfig(partitions=...)`` wins. ``cluster``: go on with another
    harness's in-memory cluster (its topics, messages and committed offsets), for an app that
    restarts or a second app in the same group; its members join the groups there. Nothing
    runs until :meth:`run`. A harness is closed by the pytest fixture, by ``with``, or by
    :meth:`close`.
    """

    def __init__(
        self,
        app: App,
        *,
        partitions: int | Mapping[str, int] = 1,
        cluster: Cluster | None = None,
    ) -> None:
        if not isinstance(app, App):
            raise HarnessError(f"Harness(app) needs a parafka.App, got {app!r}")
        if app.running:
            raise HarnessError(
                "Harness(app): the app is running; give the harness an app that was never started"
            )
        if not app.routes:
            raise HarnessError("Harness(app): no topics are routed: call app.topic(...) first")
        default = partitions if isinstance(partitions, int) else 1
        self._partitions = {} if isinstance(partitions, int) else dict(partitions)
        self.app = app
        self.clock = FakeClock()
        if cluster is not None and not isinstance(cluster, Cluster):
            raise HarnessError(
                f"Harness(cluster=...) takes another harness's .cluster, got {cluster!r}"
            )
        self.cluster = cluster if cluster is not None else Cluster(default)
        for route in app.routes:
            if route.pattern is None and route.topic not in self.cluster.topics:
                declared = route.topic_config.partitions if route.topic_config else None
                self.cluster.create_topic(route.topic, self._count(route.topic, declared))
        self._monitor = HarnessMonitor(app.monitor)
        #: Every instrumentation event this harness's engine published, in order.
        self.events: list[Event] = self._monitor.events
        self.critical_error: BaseException | None = None
        self._consumed: dict[tuple[str, str], list[Message[Any]]] = {}
        self._stopped = False
        self._jobs = JobsQueue()
        self._runner: CoroutineRunner | None = None
        if any(route.asynchronous for route in app.routes):
            self._runner = CoroutineRunner(self._jobs, thread=False)
            self._jobs.runner = None  # every batch goes through the harness (recorded)
        self._producer = MemoryProducer(self.cluster, self._now_ms)
        limit = app.settings.max_buffered_bytes
        budget = None if limit is None else BufferBudget(limit)
        self._members: list[MemoryConsumer] = []
        self._groups = app.subscription_groups()
        self._listeners = [
            Listener(
                group,
                dict(app.kafka),
                app.settings,
                self._jobs,
                self._monitor,
                self._on_critical,
                thread_name=f"harness-{group.group_id}-{group.name}",
                producer=self._producer,
                runner=self._runner,
                budget=budget,
                client_factory=self._new_member,
                clock=self.clock,
            )
            for group in self._groups
        ]
        for listener in self._listeners:
            listener.subscribe()

    def __repr__(self) -> str:
        return f"Harness({self.app!r}, clock={self.clock.now:g} s)"

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- input -----------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions (before producing to it)."""
        self.cluster.create_topic(topic, partitions)

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        headers: Headers | None = None,
        *,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> Message[Any]:
        """Write a message to ``topic`` (created if it does not exist, like a broker with
        topic auto-creation) and return it. Without ``partition``, the key chooses it (CRC32,
        as librdkafka's default partitioner), or round robin without a key. ``value`` and
        ``key``: bytes, str (UTF-8), None, or anything through ``serializer``."""
        self._check_open()
        raw = self.cluster.append(
            topic,
            serialize(value, serializer, "value"),
            serialize(key, key_serializer, "key"),
            partition if partition is None else self._partition(topic, partition),
            serialize_headers(headers),
            self._now_ms(),
        )
        return Message(raw, raw_deserializer)

    def produce_transaction(
        self,
        topic: str,
        values: Iterable[Any],
        *,
        key: Any = None,
        partition: int | None = None,
        headers: Headers | None = None,
        abort: bool = False,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> list[Message[Any]]:
        """Write ``values`` to ``topic`` in one transaction, as a transactional producer does:
        the records, then a control record (the commit or abort marker) in each partition
        written. Consumers (``read_committed``, librdkafka's default) are given the records of
        a committed transaction and never the marker; an aborted transaction's records take
        their offsets but are never given (nor listed by :meth:`produced`). Returns the
        records written, with their offsets."""
        self._check_open()
        written = []
        for value in values:
            raw = self.cluster.append(
                topic,
                serialize(value, serializer, "value"),
                serialize(key, key_serializer, "key"),
                partition if partition is None else self._partition(topic, partition),
                serialize_headers(headers),
                self._now_ms(),
                visible=not abort,
            )
            written.append(Message(raw, raw_deserializer))
        for index in sorted({m.partition for m in written}):  # none: nothing was written
            self.cluster.append_marker((topic, index))
        return written

    # -- driving ---------------------------------------------------------------------------

    def run(self, *, max_batches: int | None = None) -> None:
        """Process until nothing is left to do at the current time: fetch, consume, retry,
        dead-letter, commit. ``max_batches``: stop after that many ``consume()`` calls (to
        act in the middle, e.g. revoke). Raises :class:`HarnessError` when work waits for the
        clock (a retry's back-off, a pause): :meth:`advance` moves it."""
        self._check_open()
        if self._drive(max_batches) and max_batches is not None:
            return
        waiting = self._waiting()
        if waiting:
            raise HarnessError(
                "run() cannot finish without moving the fake clock: "
                + "; ".join(waiting)
                + ". Call h.advance(seconds) to let time pass (it runs what becomes due)"
            )

    def advance(self, seconds: float) -> None:
        """Move the fake clock ``seconds`` forward, running what becomes due on the way at
        its own time (each retry after its back-off, each pause when it ends)."""
        self._check_open()
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise HarnessError(f"advance(seconds) needs a number >= 0, got {seconds!r}")
        target = self.clock.now + seconds
        self._drive()
        while True:
            due = self._next_due()
            if due is None or due > target or due <= self.clock.now:
                break
            self.clock.now = due
            self._drive()
        self.clock.now = target
        self._drive()

    # -- rebalances ------------------------------------------------------------------------

    def revoke(self, topic: str, partition: int, *, group: str | None = None) -> None:
        """Take the partition away from the app (as when another member gets it): finished
        work is committed, the consumer's ``revoked()`` runs. It stays unassigned until
        :meth:`assign`. Under an eager protocol (librdkafka's default) every partition of the
        member is revoked and the others assigned again, as a real rebalance does."""
        group_id, key = self._group_for(topic, group), (topic, self._partition(topic, partition))
        owner = self.cluster.owner(group_id, key)
        if owner is None:
            raise HarnessError(
                f"{topic} [{partition}] is not assigned in consumer group {group_id!r}: "
                f"nothing to revoke"
            )
        self.cluster.group(group_id).owners[key] = None
        owner.rebalance("revoke", [key])
        self._drive()

    def lose(
        self, topic: str | None = None, partition: int | None = None, *, group: str | None = None
    ) -> None:
        """Take partitions away without a commit, as when a member's session expired.

        ``lose()``: every member of the consumer group (``group``, default the app's) loses its
        whole assignment, which is what a real loss does. ``lose(topic, partition)``: only that
        partition (a simplification: a broker never takes one partition of a member this way).

        From this call on the group refuses the member's commits of what it lost, so work
        finished but not committed yet is not committed; the consumers' ``revoked()`` runs at
        the member's next poll. The partitions stay unassigned until :meth:`assign`, which
        repeats what was not committed."""
        if (topic is None) != (partition is None):
            raise HarnessError(
                "lose(topic, partition) loses one partition, lose() every partition of the "
                "group's members: give both or neither"
            )
        if topic is None or partition is None:
            group_id = group if group is not None else self.app.group_id
            held = [
                (key, owner)
                for key, owner in self.cluster.group(group_id).owners.items()
                if owner is not None
            ]
            if not held:
                raise HarnessError(
                    f"nothing is assigned in consumer group {group_id!r}: nothing to lose"
                )
        else:
            group_id, key = (
                self._group_for(topic, group),
                (topic, self._partition(topic, partition)),
            )
            owner = self.cluster.owner(group_id, key)
            if owner is None:
                raise HarnessError(
                    f"{topic} [{partition}] is not assigned in consumer group {group_id!r}: "
                    f"nothing to lose"
                )
            held = [(key, owner)]
        owners = self.cluster.group(group_id).owners
        by_member: dict[MemoryConsumer, list[Key]] = {}
        for key, owner in held:
            owners[key] = None
            by_member.setdefault(owner, []).append(key)
        for owner, keys in by_member.items():
            owner.rebalance("lost", keys)
        self._drive()

    def assign(self, topic: str, partition: int, *, group: str | None = None) -> None:
        """Give a revoked or lost partition back to the app; it resumes from the committed
        offset."""
        group_id, key = self._group_for(topic, group), (topic, self._partition(topic, partition))
        owners = self.cluster.group(group_id).owners
        if owners.get(key) is not None:
            raise HarnessError(
                f"{topic} [{partition}] is already assigned in consumer group {group_id!r}"
            )
        member = next(
            (m for m in self._members if m.group_id == group_id and m.subscribes(topic)), None
        )
        if member is None or member.closed:
            raise HarnessError(f"no member of consumer group {group_id!r} reads {topic!r}")
        owners[key] = member
        member.rebalance("assign", [key])
        self._drive()

    # -- results ---------------------------------------------------------------------------

    def consumed(self, topic: str, *, group: str | None = None) -> list[Message[Any]]:
        """Every message handed to a ``consume()`` of ``topic`` (in ``group``; default: the
        app's group if it reads the topic, else the one group that does), in the order of the
        calls, with the route's deserializers. A retried message appears once per attempt."""
        group_id = self._group_for(topic, group)
        return list(self._consumed.get((group_id, topic), []))

    def produced(
        self, topic: str, *, deserializer: Deserializer[Any] = raw_deserializer
    ) -> list[Message[Any]]:
        """Every message written to ``topic`` (by the test, consumers' ``produce()``, dead
        letters), in the order written; ``payload`` through ``deserializer`` (default: the
        raw bytes). Empty for a topic nothing was written to."""
        found = self.cluster.topics.get(topic)
        return [] if found is None else [Message(raw, deserializer) for raw in found.written]

    def committed(self, topic: str, partition: int, *, group: str | None = None) -> int | None:
        """The offset committed for the partition in the group (the next one to process), or
        None if nothing was committed."""
        group_id, key = self._group_for(topic, group), (topic, self._partition(topic, partition))
        point = self.cluster.committed(group_id, key)
        return None if point is None else point[0]

    def consumer(
        self, topic: str, partition: int = 0, *, lane: int = 0, group: str | None = None
    ) -> Consumer:
        """The consumer instance the engine made for an assigned partition (and lane), to
        look at its state."""
        group_id, key = self._group_for(topic, group), (topic, self._partition(topic, partition))
        for coordinator in self._coordinators():
            if (coordinator.group_id, coordinator.topic, coordinator.partition) == (group_id, *key):
                instance = coordinator.executor.existing(lane)
                if instance is not None:
                    return instance
        raise HarnessError(
            f"no consumer instance for {topic} [{partition}] lane {lane} in group "
            f"{group_id!r}: not assigned, or nothing consumed yet"
        )

    # -- message builders ------------------------------------------------------------------

    def message(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        *,
        partition: int = 0,
        offset: int = 0,
        headers: Headers | None = None,
        group: str | None = None,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> Message[Any]:
        """A message of ``topic`` with its route's deserializers (for unit tests of one
        ``consume()`` or of a partitioner); nothing is produced."""
        return builders.message(
            value,
            key,
            topic=topic,
            partition=partition,
            offset=offset,
            headers=headers,
            timestamp_ms=self._now_ms(),
            serializer=serializer,
            key_serializer=key_serializer,
            deserializer=self._route(topic, group).deserializers,
        )

    def messages(
        self,
        topic: str,
        values: Iterable[Any],
        *,
        key: Any = None,
        partition: int = 0,
        first_offset: int = 0,
        headers: Headers | None = None,
        group: str | None = None,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> Messages[Any]:
        """A batch of ``topic`` as ``consume()`` gets it, with its route's deserializers
        (see :func:`parafka.testing.messages`); nothing is produced."""
        return builders.messages(
            values,
            key=key,
            topic=topic,
            partition=partition,
            first_offset=first_offset,
            headers=headers,
            serializer=serializer,
            key_serializer=key_serializer,
            deserializer=self._route(topic, group).deserializers,
        )

    # -- the end ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Shut the app down as ``app.stop()`` does: running work finishes, ``shutdown()``
        hooks run, offsets are committed, the clients leave their groups. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for listener in self._listeners:
            listener.begin_shutdown()
        for _ in range(MAX_ROUNDS):
            if not self._run_jobs(None)[0] and all(listener.idle for listener in self._listeners):
                break
        for listener in self._listeners:
            listener.finish_shutdown()

    def close(self) -> None:
        """:meth:`stop`, then release what the harness holds (the pytest fixture calls it)."""
        try:
            self.stop()
        finally:
            if self._runner is not None:
                self._runner.stop()
                self._runner = None

    # -- the driver ------------------------------------------------------------------------

    def _drive(self, max_batches: int | None = None) -> bool:
        """Rounds (every listener steps, then every queued job runs) until one does nothing.
        True when it stopped at ``max_batches``."""
        batches = 0
        reach, stalled = self._reach(), 0
        for _ in range(MAX_ROUNDS):
            activity = 0
            for listener, member in zip(self._listeners, self._members, strict=True):
                if member.closed:
                    continue
                before = member.activity
                listener.step()
                activity += member.activity - before
            left = None if max_batches is None else max_batches - batches
            ran, consumed = self._run_jobs(left)
            batches += consumed
            self._raise_critical()
            if max_batches is not None and batches >= max_batches:
                return True
            if not activity and not ran:
                return False
            now = self._reach()
            stalled = 0 if now > reach else stalled + 1
            reach = max(reach, now)
            if stalled >= MAX_IDLE_ROUNDS:
                raise HarnessError(
                    f"the app went round {MAX_IDLE_ROUNDS} times without fetching a message it "
                    f"had not fetched before or writing one (a consumer that seeks back for "
                    f"ever?); {batches} consume() calls in this run"
                )
        raise HarnessError(
            f"the app is still busy after {MAX_ROUNDS} rounds of the harness (a consumer that "
            f"produces to the topic it reads for ever?)"
        )

    def _reach(self) -> int:
        """How far the members have fetched, plus how much was written: grows with progress."""
        return self.cluster.writes + sum(member.reach for member in self._members)

    def _run_jobs(self, max_batches: int | None) -> tuple[int, int]:
        """Run queued jobs (and async batches) until none is left, or ``max_batches``
        ``consume()`` calls were made; (jobs run, batches consumed)."""
        ran = consumed = 0
        while True:
            while len(self._jobs):
                if max_batches is not None and consumed >= max_batches:
                    return ran, consumed
                job = self._jobs.get()
                assert isinstance(job, Job)
                for ready in self._run_job(job):
                    self._jobs.put(ready)
                ran += 1
                if isinstance(job, ConsumeJob) and job.coordinator.executor.existing(job.lane):
                    consumed += 1
            if self._runner is not None:
                self._runner.run_until_idle()
            if not len(self._jobs):
                return ran, consumed

    def _run_job(self, job: Job) -> list[Job]:
        try:
            ready = job.run()
        except Exception as exc:  # a parafka bug: reported as a worker reports it
            self._monitor.publish(
                "error.occurred", type="worker.job", job=job.describe(), error=exc
            )
            raise HarnessError(f"the engine failed running {job.describe()}: {exc!r}") from exc
        if isinstance(job, ConsumeJob) and job.coordinator.executor.existing(job.lane):
            key = (job.coordinator.group_id, job.coordinator.topic)
            self._consumed.setdefault(key, []).extend(job.batch())
        return ready

    def _coordinators(self) -> list[Coordinator]:
        return [c for listener in self._listeners for c in listener.coordinators]

    def _next_due(self) -> float | None:
        times = [t for c in self._coordinators() if (t := c.wakes_at()) is not None]
        return min(times, default=None)

    def _waiting(self) -> list[str]:
        now = self.clock.now
        found = []
        for coordinator in self._coordinators():
            due = coordinator.wakes_at()
            where = f"{coordinator.topic} [{coordinator.partition}]"
            if due is not None:
                found.append(
                    f"{where} waits until {due:g} s (a retry's back-off, a pause or "
                    f"max_wait_time; the clock is at {now:g} s: advance({due - now:g}) or more)"
                )
            elif coordinator.backlog_size or not coordinator.idle:
                found.append(f"{where} holds {coordinator.backlog_size} messages it cannot start")
        return found

    def _raise_critical(self) -> None:
        error = self.critical_error
        if error is not None:
            raise HarnessError(
                f"the app would stop: critical error {error!r} (see h.events)"
            ) from error

    def _on_critical(self, error: BaseException) -> None:
        if self.critical_error is None:
            self.critical_error = error

    def _new_member(self, config: dict[str, Any], where: str) -> confluent_kafka.Consumer:
        member = MemoryConsumer(self.cluster, config)
        self._members.append(member)
        # It answers the part of confluent_kafka.Consumer the listener calls (see its module).
        return cast(confluent_kafka.Consumer, member)

    def _now_ms(self) -> int:
        return EPOCH_MS + int(self.clock.now * 1000)

    # -- checks ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._stopped:
            raise HarnessError("the harness was stopped; make a new Harness(app)")

    def _count(self, topic: str, declared: int | None) -> int:
        if declared is not None:
            return declared
        return self._partitions.get(topic, self.cluster.default_partitions)

    def _partition(self, topic: str, partition: int) -> int:
        if topic not in self.cluster.topics:
            self.cluster.create_topic(topic, self._count(topic, None))
        self.cluster.check_partition(topic, partition)
        return partition

    def _readers(self, topic: str) -> list[SubscriptionGroup]:
        return [g for g in self._groups if any(r.matches(topic) for r in g.routes)]

    def _group_for(self, topic: str, group: str | None) -> str:
        readers = sorted({g.group_id for g in self._readers(topic)})
        if not readers:
            routed = ", ".join(repr(r.topic) for r in self.app.routes)
            raise HarnessError(f"no route of the app reads {topic!r} (routed: {routed})")
        if group is not None:
            if group not in readers:
                raise HarnessError(
                    f"consumer group {group!r} does not read {topic!r} (groups that do: "
                    f"{', '.join(readers)})"
                )
            return group
        if self.app.group_id in readers:
            return self.app.group_id
        if len(readers) == 1:
            return readers[0]
        raise HarnessError(
            f"several consumer groups read {topic!r} ({', '.join(readers)}): pass group="
        )

    def _route(self, topic: str, group: str | None) -> Route:
        group_id = self._group_for(topic, group)
        for subscription in self._readers(topic):
            if subscription.group_id == group_id:
                route = subscription.match(topic)
                if route is not None:
                    return route
        raise HarnessError(f"no route of consumer group {group_id!r} reads {topic!r}")
