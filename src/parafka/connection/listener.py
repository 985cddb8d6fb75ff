"""The listener: one thread per subscription group that owns its ``confluent_kafka.Consumer``.

Only this thread touches the client: consume, pause, resume, commit, assign and
close; rebalance callbacks run on it too, inside ``consume()``. Workers reach it only through
coordinators, which put themselves on ``_dirty`` (a thread-safe queue) when their committable
offset or backlog changed, and set ``_wake``. Other threads call only the methods under
"called from other threads" below.

The loop never waits for jobs (no barrier): each turn it stores committable offsets, resumes
drained partitions, dispatches due retries, and calls ``consume()`` with a short timeout (so
``max.poll.interval.ms`` and rebalance callbacks are served promptly). When every assigned
partition is paused it waits on ``_wake`` instead, then polls without blocking.

Its parts, each driven by this thread: :mod:`~parafka.connection.fetch` (the poll and the split
per partition), :mod:`~parafka.connection.flow` (when to pause and resume; the listener carries
it out on the client), :mod:`~parafka.connection.committer` (recording and committing
offsets), :mod:`~parafka.connection.rebalance` (the callbacks and the coordinator registry)
and :mod:`~parafka.connection.handle` (the client, replacing it, closing it).

Commits (:mod:`parafka.connection.committer`): the listener records each coordinator's new
commit point, commits the recorded points asynchronously every ``auto.commit.interval.ms``, and
synchronously on revoke, at shutdown and when a consumer asks (``commit_now``).

Shutdown (:meth:`request_stop`): pause everything, stop dispatching, let running jobs finish and
``shutdown()`` hooks run until the deadline while still polling, commit synchronously what is
committable, close the client. The final commit and close run on a helper thread, bounded by
``close_timeout`` (:meth:`ClientHandle.close <parafka.connection.handle.ClientHandle.close>`).

Out of the group (:mod:`parafka.connection.membership`): when the client's statistics say the
member stayed out of its group for longer than ``rejoin_timeout``, the listener gives up its
partitions as lost and subscribes with a new client (:mod:`parafka.connection.handle`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from parafka.config import Settings, commit_interval
from parafka.connection.budget import BufferBudget, budget_client_settings, librdkafka_reserve
from parafka.connection.client import client_config, is_incremental
from parafka.connection.committer import Committer, commit_offset
from parafka.connection.fetch import Key, high_watermark, poll_batch, split
from parafka.connection.flow import FlowControl
from parafka.connection.handle import ClientFactory, ClientHandle
from parafka.connection.rebalance import Rebalance
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import ALWAYS_WAKE, Coordinator
from parafka.processing.coroutines import CoroutineRunner
from parafka.processing.workers import JobsQueue
from parafka.producing import Sender
from parafka.routing import Route, SubscriptionGroup

__all__ = ["Listener"]


class Listener:
    """A subscription group's connection and thread (``parafka-listener-<group>``)."""

    def __init__(
        self,
        group: SubscriptionGroup,
        kafka: dict[str, Any],
        settings: Settings,
        jobs: JobsQueue,
        monitor: Monitor,
        on_critical: Callable[[BaseException], None],
        thread_name: str,
        producer: Sender | None = None,
        instance_id: str | None = None,
        runner: CoroutineRunner | None = None,
        budget: BufferBudget | None = None,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``client_factory`` builds the Kafka client and ``clock`` is the coordinators'
        clock (retry back-offs, pauses): ``parafka.testing`` passes an in-memory cluster's
        client and a fake clock."""
        self.group = group
        self._clock = clock
        self._settings = settings
        self._jobs = jobs
        self._monitor = monitor
        self._on_critical = on_critical
        self._producer = producer
        self._runner = runner
        config = client_config({**kafka, **group.kafka}, group.group_id)
        if instance_id is not None:
            config["group.instance.id"] = instance_id
        self._single_topic = group.single_topic  # None with several topics or a pattern
        if budget is not None:
            # librdkafka's buffers sized from this connection's share, unless the app set them.
            given = {**kafka, **group.kafka}
            largest = int(str(config.get("message.max.bytes", 1_000_000)))
            for key, value in budget_client_settings(budget.connection_share, largest).items():
                if key not in given:
                    config[key] = value
        #: What librdkafka may hold for this connection (around its prefetch queue and one
        #: fetch response), taken off the app's budget up front.
        self.prefetch_bytes = librdkafka_reserve(config)
        # auto.commit.interval.ms was checked when the app and its routes were configured.
        interval = commit_interval(config, f"consumer group {group.group_id!r}")
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        #: When the listener thread last began a turn (``time.monotonic``; written by the
        #: listener thread, read racily by :meth:`health` from any thread).
        self.last_turn = time.monotonic()
        # Listener-thread state: the assigned partitions' coordinators (written by the
        # rebalance callbacks; read by the loop, the committer and, racily, describe()).
        self._coordinators: dict[Key, Coordinator] = {}
        self._committer = Committer(group.group_id, monitor, self._coordinators, interval)
        # The client: created here (configuration errors surface in App.start); after start()
        # only the listener thread uses it.
        self._handle = ClientHandle(
            config,
            group.group_id,
            settings,
            monitor,
            owner=self._thread,
            commit=self._committer.commit,
            committed=self._committer.committed,
            factory=client_factory,
        )
        # Paused partitions, back-pressure, quiet mode, the app's memory budget.
        self._flow = FlowControl(settings, budget, thread_name)
        self._rebalance = Rebalance(
            group,
            monitor,
            jobs,
            incremental=is_incremental(config),
            coordinators=self._coordinators,
            handle=self._handle,
            flow=self._flow,
            committer=self._committer,
            new_coordinator=self._new_coordinator,
            pause=self._pause,
            settle=self._serve_dirty,
        )
        self._next_commit = 0.0
        self._next_sweep = 0.0
        # Cross-thread hand-offs:
        self._dirty: queue.SimpleQueue[Coordinator] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop_requested = threading.Event()
        self._quiet_requested = threading.Event()
        self._deadline = float("inf")  # written before _stop_requested is set
        self.stopped = threading.Event()

    def __repr__(self) -> str:
        return f"Listener({self._thread.name}, topics={self.group.topics})"

    # -- called from other threads -------------------------------------------------------

    def start(self) -> None:
        self.last_turn = time.monotonic()
        self._thread.start()

    def discard(self) -> None:
        """Close the client of a listener that was never started (the app failed to start)."""
        self._handle.client.close()

    def request_quiet(self) -> None:
        """Quiet mode: finish running work, keep polling (no rebalance), take no new work."""
        self._quiet_requested.set()
        self._wake.set()

    def request_stop(self, deadline: float) -> None:
        """Begin the shutdown; ``deadline`` (monotonic) bounds the wait for running jobs."""
        self._deadline = deadline
        self._stop_requested.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def commit_now(self, coordinator: Coordinator, timeout: float) -> bool:
        """Commit ``coordinator``'s offset synchronously on the listener thread and wait
        (called from a worker). False if it is no longer assigned or the commit failed."""
        done = self._committer.request(coordinator)
        self._wake.set()
        try:
            return done.result(timeout)
        except TimeoutError:
            return False

    def describe(self) -> str:
        """A one-line summary for diagnostics (racy reads, from any thread)."""
        try:
            coordinators = list(self._coordinators.values())
        except RuntimeError:  # changed while copied (a rebalance): report without them
            coordinators = []
        in_flight = sum(len(c.in_flight()) for c in coordinators)
        backlog = sum(c.backlog_size for c in coordinators)
        paused = len(self._flow.paused)
        return (
            f"{self._thread.name}: {len(coordinators)} partitions, {paused} paused, "
            f"{in_flight} jobs in flight, {backlog} messages in backlogs"
        )

    def health(self, now: float, stall_after: float) -> str | None:
        """None while the listener thread runs and turns; else why not (any thread)."""
        if self.stopped.is_set() or not self._thread.is_alive():
            return f"{self._thread.name} has ended"
        stalled = now - self.last_turn
        if stalled > stall_after:
            return f"{self._thread.name} has not polled for {stalled:.1f} s"
        return None

    def running_coroutines(self) -> list[str]:
        """Async batches still in flight (for the hang report, after the listener stopped)."""
        found: list[str] = []
        retired = [old for olds in self._rebalance.retired.values() for old in olds]
        for coordinator in [*self._coordinators.values(), *retired]:
            if coordinator.route.asynchronous:
                found.extend(job.describe() for job in coordinator.in_flight())
        return found

    def notify(self, coordinator: Coordinator) -> None:
        """A coordinator's offsets or backlog changed (called from any thread).

        The wake-up is set only when it is not set already: ``Event.set`` takes a lock and
        notifies every time (a deterministic profile of no-op batches of 10 put it at 15 µs
        a batch). Safe: the listener serves ``_dirty`` at the start of every turn, before it
        can wait again, so an item put while the flag was still set is served on that turn.

        Nor is it set for a partition paused for back-pressure whose backlog is still above
        the size at which it may resume (``resume_at``): the listener, waiting because every
        partition is paused, would wake only to find nothing to do, a thread switch per
        finished batch. It still serves the change on its next turn, within
        ``poll_interval``: commit points are recorded no later than that."""
        self._dirty.put(coordinator)
        if not self._wake.is_set() and coordinator.backlog_size <= coordinator.resume_at:
            self._wake.set()

    # -- the listener thread ---------------------------------------------------------------

    def _subscribe(self) -> None:
        self._rebalance.subscribe(self._handle.client)

    def _run(self) -> None:
        try:
            self._subscribe()
            while not self._stop_requested.is_set():
                self._turn()
            self._drain()
        except BaseException as exc:
            self._monitor.publish("error.occurred", type="listener.crashed", error=exc)
            self._on_critical(exc)
            try:
                self._handle.close(self._handle.client, [])
            except Exception as close_error:
                self._monitor.publish("error.occurred", type="listener.close", error=close_error)
        finally:
            self.stopped.set()

    def _turn(self) -> None:
        if self._quiet_requested.is_set() and not self._flow.held:
            self._go_quiet()
        self._serve_dirty()
        now = self.last_turn = time.monotonic()
        if now >= self._next_commit:
            self._committer.commit_recorded(self._handle.client)
            self._next_commit = now + self._committer.interval
        if now >= self._next_sweep:
            self._sweep()
            self._next_sweep = now + self._settings.poll_interval
        if self._coordinators and len(self._flow.paused) >= len(self._coordinators):
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()
            timeout = 0.0
        else:
            timeout = self._settings.fetch_timeout
        messages = self._consume(timeout)
        if messages:
            self._dispatch(messages)
            # Hand the GIL to the workers just woken: otherwise this thread, back from a quick
            # consume(), takes it again first and the workers wait for the switch interval.
            time.sleep(0)
        elif self._handle.watch.stuck(time.monotonic()):
            self._replace_client()

    def _replace_client(self) -> None:
        """The member stayed out of its group: give its partitions up as lost and join again
        with a new client (:meth:`ClientHandle.replace`)."""
        self._handle.replace(self._rebalance.lose_all)
        self._subscribe()

    def _consume(self, timeout: float) -> list[confluent_kafka.Message]:
        """A fetch (:func:`~parafka.connection.fetch.poll_batch`): a fatal error raises, others
        are published and the fetch is empty."""
        try:
            flow = self._flow
            if flow.budget is not None and flow.budget.over():
                self._recount()  # what finished since the sweep frees room; pause the rest
            limit = flow.fetch_limit(self._settings.fetch_messages)
            return poll_batch(self._handle.client, timeout, limit, self._jobs.all_busy)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.fatal():
                raise self._handle.fatal(error) from exc
            self._monitor.publish("error.occurred", type="listener.consume", error=exc)
            return []

    def _dispatch(self, messages: list[confluent_kafka.Message]) -> None:
        batches, errors = split(messages, self._single_topic)
        client = self._handle.client
        coordinators = self._coordinators
        flow = self._flow
        for key, batch in batches.items():
            coordinator = coordinators.get(key)
            if coordinator is None:
                continue  # not (or no longer) assigned here
            for job in coordinator.fetched(batch, high_watermark(client, key)):
                self._jobs.put(job)
            if flow.fetched(key, batch, coordinator):
                self._pause(key)
                coordinator.resume_at = flow.limit(key, coordinator) // 2
        # After the batches: an end-of-partition follows the messages fetched before it, so
        # eofed() runs only once they are processed.
        for message in errors:
            self._message_error(message)
        if self._monitor.listens("listener.polled"):
            self._monitor.publish(
                "listener.polled", group=self.group.group_id, messages=len(messages)
            )

    def _message_error(self, message: confluent_kafka.Message) -> None:
        error = message.error()
        assert error is not None
        if error.code() == KafkaError._PARTITION_EOF:
            coordinator = self._coordinators.get((message.topic() or "", message.partition() or 0))
            if coordinator is not None:
                for job in coordinator.eofed():
                    self._jobs.put(job)
            return
        missing = error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        self._monitor.publish(
            "error.occurred",
            # A subscribed topic that does not exist (yet): the others keep flowing, and it is
            # picked up at the next metadata refresh after it is created.
            type="listener.topic_missing" if missing else "listener.message",
            topic=message.topic(),
            partition=message.partition(),
            error=KafkaException(error),
        )
        # librdkafka reports a fatal error either as fatal() or as a message with code _FATAL
        # (whose fatal() is False); after either, the client cannot consume or commit.
        if error.fatal() or error.code() == KafkaError._FATAL:
            raise self._handle.fatal(error)

    def _serve_dirty(self) -> None:
        """Serve consumers' commit requests, resume drained partitions and record new commit
        points of the coordinators that notified (those still assigned)."""
        self._committer.serve_requests(self._handle.client)
        changed: set[Coordinator] = set()
        while True:
            try:
                changed.add(self._dirty.get_nowait())
            except queue.Empty:
                break
        if not changed:
            return
        coordinators = self._coordinators
        assigned: list[tuple[Key, Coordinator]] = []
        for coordinator in changed:
            key = (coordinator.topic, coordinator.partition)
            if coordinators.get(key) is coordinator:
                assigned.append((key, coordinator))
        flow = self._flow
        if flow.paused and not self._stop_requested.is_set():
            for key, coordinator in assigned:
                if flow.should_resume(key, coordinator):
                    self._resume(key)
        self._committer.record(assigned)

    def _user_pause(self, key: Key, coordinator: Coordinator) -> None:
        if key not in self._flow.paused:
            self._pause(key)
        offset = coordinator.seek_due()
        if offset is None:
            return
        # Resume, then seek: pausing dropped librdkafka's prefetch, and the seek sets where
        # fetching restarts (seek after resume works around librdkafka#2190).
        tp = TopicPartition(key[0], key[1], offset)
        if not self._flow.held:
            self._resume(key)
        try:
            self._handle.client.seek(tp)
        except KafkaException as exc:
            self._monitor.publish("error.occurred", type="listener.seek", error=exc)
            return
        self._committer.reset(key)
        for job in coordinator.sought():
            self._jobs.put(job)

    def _go_quiet(self) -> None:
        self._flow.held = True
        for key, coordinator in self._coordinators.items():
            coordinator.hold()
            if key not in self._flow.paused:
                self._pause(key)
        self._monitor.publish("listener.quieted", group=self.group.group_id)

    def _sweep(self) -> None:
        """Dispatch what waited on a back-off or on a revoked predecessor; carry out consumers'
        pauses and seeks; move idle partitions' ends to the client's position (past control
        records and aborted transactions); drive revoked coordinators until they are idle."""
        for key, coordinator in self._coordinators.items():
            if coordinator.seeking:
                self._user_pause(key, coordinator)
            for job in coordinator.due():
                self._jobs.put(job)
        self._advance_positions()
        self._rebalance.drive_retired()
        if self._flow.budget is not None:
            self._recount()

    def _recount(self) -> None:
        """Report to the app's budget what this listener's partitions hold, and resume those
        paused for it once it has room (others' partitions finishing frees it too)."""
        flow = self._flow
        flow.recount(self._coordinators)
        for key in flow.over_budget(self._coordinators):
            self._pause(key)
        if not flow.paused or self._stop_requested.is_set():
            return
        for key in list(flow.paused):
            coordinator = self._coordinators.get(key)
            if coordinator is not None and flow.should_resume(key, coordinator):
                self._resume(key)

    def _advance_positions(self) -> None:
        """Tell coordinators with nothing pending where the client stands: under
        read_committed, librdkafka moves the position past transaction markers and aborted
        records without delivering a message, and the commit point follows it."""
        waiting = [
            TopicPartition(*key)
            for key, coordinator in self._coordinators.items()
            if not coordinator.seeking and coordinator.backlog_size == 0
        ]
        if not waiting:
            return
        try:
            positions = self._handle.client.position(waiting)
        except KafkaException as exc:
            self._monitor.publish("error.occurred", type="listener.position", error=exc)
            return
        for tp in positions:
            coordinator = self._coordinators.get((tp.topic, tp.partition))
            if coordinator is not None and tp.offset >= 0 and coordinator.advance(tp.offset):
                self._dirty.put(coordinator)

    def _pause(self, key: Key) -> None:
        self._handle.client.pause([TopicPartition(*key)])
        self._flow.paused.add(key)
        self._monitor.publish("listener.paused", topic=key[0], partition=key[1])

    def _resume(self, key: Key) -> None:
        self._handle.client.resume([TopicPartition(*key)])
        self._flow.paused.discard(key)
        coordinator = self._coordinators.get(key)
        if coordinator is not None:
            coordinator.resume_at = ALWAYS_WAKE
        self._monitor.publish("listener.resumed", topic=key[0], partition=key[1])

    def _new_coordinator(
        self,
        route: Route,
        partition: int,
        predecessor: Coordinator | None,
        finished: Sequence[tuple[int, int]],
    ) -> Coordinator:
        """An assigned partition's coordinator (for the rebalance callbacks)."""
        return Coordinator(
            route,
            partition,
            self._settings,
            self._monitor,
            self.notify,
            self._on_critical,
            predecessor=predecessor,
            finished=finished,
            producer=self._producer,
            runner=self._runner,
            commit=self.commit_now,
            clock=self._clock,
        )

    # -- shutdown --------------------------------------------------------------------------

    def _drain(self) -> None:
        self._close_partitions()
        while time.monotonic() < self._deadline and not self._rebalance.all_idle():
            self._serve_dirty()
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()
            self._consume(0.0)  # keeps the membership alive and serves callbacks
        self._commit_and_close()

    def _close_partitions(self) -> None:
        """Shutdown, first step: stop fetching, queue every lane's ``shutdown()`` hook."""
        for coordinator in self._coordinators.values():
            coordinator.resume_at = ALWAYS_WAKE  # what finishes now ends the drain sooner
        assigned = [TopicPartition(*key) for key in self._coordinators]
        if assigned:
            self._handle.client.pause(assigned)
            self._flow.paused.update(self._coordinators)
        for coordinator in self._coordinators.values():
            for job in coordinator.close():
                self._jobs.put(job)

    def _commit_and_close(self) -> None:
        """Shutdown, last step: commit what finished work allows, close the client."""
        self._serve_dirty()
        offsets = [
            commit_offset(key, point)
            for key, coordinator in self._coordinators.items()
            if (point := coordinator.commit_point()) is not None
        ]
        self._handle.close(self._handle.client, offsets)

    # -- driven without the thread (parafka.testing) -----------------------------------------
    # A synchronous driver calls these on its own thread, in place of start(): it then owns
    # the client and runs the jobs itself. Nothing here waits.

    def subscribe(self) -> None:
        """Subscribe the client (what the thread does first)."""
        self._subscribe()

    def step(self) -> None:
        """One turn of the loop that never waits, with the sweep and the commit of recorded
        offsets both due (the thread's loop times them by the wall clock)."""
        self._next_sweep = self._next_commit = float("-inf")
        self._wake.set()  # a turn with every partition paused would wait for it
        self._turn()

    @property
    def coordinators(self) -> list[Coordinator]:
        """The assigned partitions' coordinators, then the revoked ones still running."""
        retired = [old for olds in self._rebalance.retired.values() for old in olds]
        return [*self._coordinators.values(), *retired]

    def begin_shutdown(self) -> None:
        """The shutdown's first step, for a synchronous driver, which then runs the jobs
        until :attr:`idle` and calls :meth:`finish_shutdown`."""
        self._stop_requested.set()
        self._close_partitions()

    @property
    def idle(self) -> bool:
        """No coordinator, assigned or revoked, has a job in flight or a hook pending."""
        return self._rebalance.all_idle()

    def finish_shutdown(self) -> None:
        """The shutdown's last step: the final commit and the close."""
        self._commit_and_close()
        self.stopped.set()
