"""The per-partition coordinator: the state a listener and the workers share for one partition.

Threads: the listener calls :meth:`fetched`, :meth:`due`, :meth:`commit_point`, :meth:`revoke`
and :meth:`close`; a worker calls :meth:`instance`, :meth:`mark`, :meth:`finished` and
:meth:`run_hook` while it runs one of this partition's jobs. ``_lock`` guards the tracker, the
lanes and the routing state. Each lane has at most one job in flight (batch or hook), which keeps
its order and makes its consumer instance single-threaded. Without virtual partitions there is
one lane, so one job per partition.

Flow control without a barrier: fetched messages go to their lane's backlog; an idle lane's next
batch (up to ``max_messages``) leaves at once, from whichever thread notices first (the listener
after a fetch, or the worker that just finished that lane's previous batch). The listener pauses
the partition at the broker when the backlog is full and resumes it at half.

Events are collected under the lock and published after it is released, so a subscriber can
never deadlock the coordinator.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from parafka.dead_letters import dead_letter_headers
from parafka.instrumentation import EventName, Monitor
from parafka.processing import progress
from parafka.processing.jobs import ConsumeJob, DeadLetterJob, HookJob, Job
from parafka.processing.lanes import DeadLetter, Lane
from parafka.processing.offsets import OffsetError, OffsetTracker
from parafka.processing.virtual import LanePlanner

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.config import Settings
    from parafka.consumer import Consumer
    from parafka.processing.coroutines import CoroutineRunner
    from parafka.producing import SharedProducer
    from parafka.routing import Route

__all__ = ["Coordinator"]

State = Literal["active", "closing", "revoked"]


class Coordinator:
    """In-flight work, backlogs, offsets and retry state of one assigned partition."""

    def __init__(
        self,
        route: Route,
        partition: int,
        settings: Settings,
        monitor: Monitor,
        notify: Callable[[Coordinator], None],
        on_critical: Callable[[BaseException], None],
        predecessor: Coordinator | None = None,
        commit: Callable[[Coordinator, float], bool] | None = None,
        finished: Sequence[tuple[int, int]] = (),
        producer: SharedProducer | None = None,
        runner: CoroutineRunner | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.route = route
        self.group_id = route.group_id
        self.topic = route.topic
        self.partition = partition
        self._settings = settings
        self._monitor = monitor
        self._notify = notify
        self._on_critical = on_critical
        self._clock = clock
        self._producer = producer
        #: Where ``async def consume`` runs (None when the app has no async consumer).
        self.runner = runner
        self._commit = commit
        self._eof = False  # the end of the partition was reached: eofed() once drained
        self._high_watermark: int | None = None  # guarded by _lock
        self._held = False  # quiet mode: running work finishes, nothing new starts (guarded)
        # A pause or seek asked by the consumer: (offset to fetch from, monotonic resume time).
        self._seek: tuple[int, float] | None = None  # guarded by _lock
        self._pause_first = route.pause_timeout or settings.pause_timeout
        self._pause_most = route.pause_max_timeout or settings.pause_max_timeout
        vp = route.virtual_partitions
        self.virtual = vp is not None
        count = (vp.max_partitions or settings.concurrency) if vp is not None else 1
        self._lock = threading.Lock()
        # guarded by _lock:
        self._tracker = OffsetTracker()
        self._lanes = [Lane(index, keyed=vp is not None) for index in range(count)]
        self._planner = LanePlanner(vp, count, route.deserializer) if vp is not None else None
        self._inbox: deque[Sequence[confluent_kafka.Message]] = deque()  # chunks to route
        self._serial = False  # the partitioner failed on _inbox[0]: it runs alone, unsplit
        self._size = 0  # messages queued in lanes and inbox
        #: Queued messages before the listener pauses the partition: per lane, since one
        #: partition feeds every lane.
        self.backlog_limit = settings.backlog_limit * count
        self._state: State = "active"
        self._predecessor = predecessor
        self._skip = list(finished)  # offsets the previous owner finished (from metadata)
        self._events: list[tuple[EventName, dict[str, Any]]] = []

    def __repr__(self) -> str:
        return f"Coordinator({self.group_id}/{self.topic}/{self.partition}, {self._state})"

    # -- listener side ---------------------------------------------------------------------

    def fetched(
        self, messages: Sequence[confluent_kafka.Message], high_watermark: int | None = None
    ) -> list[Job]:
        """Take freshly fetched messages (in offset order); return jobs to enqueue."""
        first, last = _offsets(messages)
        with self._lock:
            if self._state != "active":
                return []
            if high_watermark is not None and high_watermark >= 0:
                self._high_watermark = high_watermark
            if self._seek is not None:
                return []  # fetched before the partition was paused: it is fetched again
            self._tracker.register(first, last)
            if self._skip:
                messages = self._drop_finished_locked(messages, last)
            if messages:
                if self._planner is None:
                    self._lanes[0].push(messages)
                else:
                    self._inbox.append(messages)
                    self._route_locked()
                self._size += len(messages)
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    def due(self) -> list[Job]:
        """Called periodically: jobs whose retry back-off or predecessor has passed."""
        with self._lock:
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    @property
    def backlog_size(self) -> int:
        """Messages fetched and not yet handed to a worker (a racy read is fine for pausing)."""
        return self._size

    @property
    def idle(self) -> bool:
        """No job in flight and no hook pending in any lane."""
        with self._lock:
            return all(lane.idle for lane in self._lanes)

    def in_flight(self) -> list[Job]:
        with self._lock:
            return [lane.in_flight for lane in self._lanes if lane.in_flight is not None]

    def committable(self) -> int | None:
        """The offset to store for this partition; None when there is none or it is not ours."""
        point = self.commit_point()
        return None if point is None else point[0]

    def commit_point(self) -> tuple[int, str] | None:
        """The offset to store and its metadata (finished offsets above it, if any)."""
        with self._lock:
            if self._state == "revoked":
                return None
            return self._commit_point_locked()

    def revoke(self) -> tuple[tuple[int, str] | None, list[Job]]:
        """The partition is taken away: its last commit point and the jobs to enqueue.

        Backlogs are dropped; running batches may finish but move no offset; each lane's
        ``revoked()`` hook runs after its running batch.
        """
        with self._lock:
            point = None if self._state == "revoked" else self._commit_point_locked()
            if self._state != "revoked":
                if self._state == "active":  # after close(), shutdown() is the last hook
                    for lane in self._lanes:
                        lane.hooks.append(HookJob(self, lane.index, "revoked"))
                self._state = "revoked"
                self._drop_queued_locked()
            jobs = self._next_jobs_locked()
        self._flush_events()
        return point, jobs

    def user_pause(self, offset: int, timeout: float | None) -> bool:
        """``Consumer.pause``/``seek`` (a worker): stop; after ``timeout`` s (None: the retry
        pause) fetch again from ``offset``. Queued messages are dropped; those below ``offset``
        count as skipped by the consumer. False when the partition is no longer ours."""
        if offset < 0:
            raise ValueError(f"cannot pause or seek to a negative offset ({offset})")
        delay = self._pause_first if timeout is None else max(float(timeout), 0.0)
        with self._lock:
            if self._state != "active":
                return False
            for lane in self._lanes:
                for chunk in lane.backlog:
                    self._skip_below_locked(chunk, offset)
                lane.clear()
                lane.retry_at = None
                lane.attempt = 0
            for chunk in self._inbox:
                self._skip_below_locked(chunk, offset)
            self._inbox.clear()
            self._serial = False
            self._size = 0
            if self._planner is not None:
                self._planner.clear()
            self._tracker.truncate(offset)
            self._seek = (offset, self._clock() + delay)
        self._notify(self)
        self._monitor.publish(
            "consumer.paused",
            topic=self.topic,
            partition=self.partition,
            offset=offset,
            backoff=delay,
            user=True,
        )
        return True

    def user_resume(self) -> None:
        """``Consumer.resume``: end a pause now (the seek happens once running work is done)."""
        with self._lock:
            if self._seek is not None:
                self._seek = (self._seek[0], self._clock())
        self._notify(self)

    def seek_due(self) -> int | None:
        """Listener: the offset to seek to, once the pause is over and no job runs; else None."""
        with self._lock:
            if self._seek is None or self._clock() < self._seek[1]:
                return None
            if not all(lane.idle for lane in self._lanes):
                return None
            return self._seek[0]

    @property
    def seeking(self) -> bool:
        """A consumer's pause or seek is pending (the listener keeps the partition paused)."""
        return self._seek is not None

    def sought(self) -> list[Job]:
        """Listener: the client now fetches from the pause offset again."""
        with self._lock:
            self._seek = None
            jobs = self._next_jobs_locked()
        return jobs

    def _skip_below_locked(self, chunk: Sequence[confluent_kafka.Message], offset: int) -> None:
        for message in chunk:
            position = message.offset() or 0
            if position >= offset:
                break
            self._tracker.mark(position)

    def hold(self) -> None:
        """Quiet mode: let running batches finish but start no new ones (backlog kept)."""
        with self._lock:
            self._held = True

    def close(self) -> list[Job]:
        """The app stops: no new batches; ``shutdown()`` hooks run after the running ones."""
        with self._lock:
            if self._state == "active":
                self._state = "closing"
                self._drop_queued_locked()
                for lane in self._lanes:
                    lane.hooks.append(HookJob(self, lane.index, "shutdown"))
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    # -- worker side -----------------------------------------------------------------------

    def instance(self, lane_index: int) -> Consumer | None:
        """The lane's consumer instance, created (and ``initialized()``) on first use."""
        lane = self._lanes[lane_index]
        if lane.consumer is None:
            try:
                consumer = self.route.consumer()
                consumer.topic = self.topic
                consumer.partition = self.partition
                consumer.initialized()
            except Exception as exc:
                lane.instance_error = exc
                return None
            consumer._parafka_producer = self._producer
            lane.consumer = consumer
            lane.instance_error = None
            self._monitor.publish(
                "consumer.initialized", topic=self.topic, partition=self.partition
            )
        return lane.consumer

    def eofed(self) -> list[Job]:
        """The listener saw the end of the partition: ``eofed()`` runs once it is drained."""
        with self._lock:
            if self._state == "active":
                self._eof = True
            jobs = self._next_jobs_locked()
        return jobs

    def commit_now(self, timeout: float) -> bool:
        """Ask the listener to commit this partition's offset now and wait (worker thread)."""
        if self._commit is None:
            return False
        return self._commit(self, timeout)

    def instance_error(self, lane_index: int) -> BaseException | None:
        return self._lanes[lane_index].instance_error

    def mark(self, job: ConsumeJob, offset: int) -> bool:
        """Mark ``job``'s messages up to ``offset`` finished; False if the partition is gone."""
        if not job.first_offset <= offset <= job.last_offset:
            raise ValueError(
                f"offset {offset} is not in the batch being processed "
                f"({job.first_offset}..{job.last_offset})"
            )
        with self._lock:
            if self._state == "revoked":
                return False
            self._mark_locked(job, offset)
        self._notify(self)
        return True

    def finished(self, job: ConsumeJob, error: BaseException | None, took: float) -> list[Job]:
        """A batch ended (``error`` None on success); return the jobs that became ready."""
        critical = error is not None and (
            not isinstance(error, Exception) or isinstance(error, self._settings.critical_errors)
        )
        with self._lock:
            lane = self._lanes[job.lane]
            lane.in_flight = None
            serial = job.keys is None and self._planner is not None
            if serial:
                self._serial = False
            if self._state != "revoked":
                if error is None:
                    if not self.route.manual_offset_management:
                        self._mark_locked(job, job.last_offset)
                    self._passed_locked(lane, job.last_offset)
                    self._release_locked(job.keys)
                elif not critical:
                    self._retry_locked(lane, job, error)
            if serial and self._state == "active":
                self._route_locked()
            jobs = [] if critical else self._next_jobs_locked()
        self._notify(self)
        self._report(job, error, critical, took)
        self._flush_events()
        return jobs

    def send_dead_letter(self, job: DeadLetterJob) -> list[Job]:
        """Produce the lane's dead letter and wait for the ack (on a worker thread)."""
        lane = self._lanes[job.lane]
        letter = lane.dead_letter
        dlq = self.route.dead_letter_queue
        if letter is None or dlq is None or dlq.topic is None or self._producer is None:
            raise OffsetError(f"no dead letter to send for {job.describe()}")
        raw = letter.message
        offset = raw.offset() or 0
        failure: BaseException | None = None
        try:
            headers = _header_items(raw) + dead_letter_headers(
                topic=self.topic,
                partition=self.partition,
                offset=offset,
                group_id=self.group_id,
                attempts=letter.runs,
                error=letter.error,
            )
            self._producer.send(dlq.topic, raw.value(), raw.key(), headers)
        except Exception as exc:
            failure = exc
        if failure is None:
            # Published before the offset is marked: a subscriber sees the dead letter before
            # any stored or committed offset passes it (and before the lane's next batch).
            self._monitor.publish(
                "dead_letter_queue.dispatched",
                topic=self.topic,
                partition=self.partition,
                offset=offset,
                dead_letter_topic=dlq.topic,
                attempts=letter.runs,
                skipped=False,
                error=letter.error,
            )
        with self._lock:
            lane.in_flight = None
            if self._state != "revoked":
                if failure is None:
                    lane.dead_letter = None
                    self._tracker.mark(offset)
                    self._passed_locked(lane, offset)
                    self._release_locked([letter.key])
                else:
                    self._back_off_locked(lane)
            jobs = self._next_jobs_locked()
        self._notify(self)
        if failure is not None:
            self._monitor.publish(
                "error.occurred",
                type="dead_letter_queue.produce",
                topic=self.topic,
                partition=self.partition,
                offset=offset,
                dead_letter_topic=dlq.topic,
                error=failure,
            )
        self._flush_events()
        return jobs

    def run_hook(self, job: HookJob) -> list[Job]:
        """Run ``revoked()`` or ``shutdown()`` on the lane's instance, if one was ever created,
        or ``eofed()`` (creating the instance for an empty partition)."""
        consumer = (
            self.instance(job.lane) if job.hook == "eofed" else self._lanes[job.lane].consumer
        )
        if consumer is not None:
            try:
                getattr(consumer, job.hook)()
            except Exception as exc:
                self._monitor.publish(
                    "error.occurred",
                    type=f"consumer.{job.hook}",
                    topic=self.topic,
                    partition=self.partition,
                    error=exc,
                )
            self._monitor.publish(
                f"consumer.{job.hook}",  # type: ignore[arg-type]
                topic=self.topic,
                partition=self.partition,
            )
        with self._lock:
            self._lanes[job.lane].in_flight = None
            jobs = self._next_jobs_locked()
        self._notify(self)
        return jobs

    # -- internals (lock held) ------------------------------------------------------------

    def _commit_point_locked(self) -> tuple[int, str] | None:
        offset = self._tracker.committable()
        if offset is None:
            return None
        if self._planner is None:
            return offset, ""
        return offset, progress.encode(offset, self._tracker.finished_above_commit())

    def _mark_locked(self, job: ConsumeJob, offset: int) -> None:
        # After a pause or seek from the consumer, offsets at or above its target are no longer
        # registered (they will be fetched again): marks there are dropped.
        registered = self._tracker.last_registered
        if registered is None:
            return
        offset = min(offset, registered)
        if job.offsets is None:
            if offset >= job.first_offset:
                self._tracker.mark(job.first_offset, offset)
            return
        for each in job.offsets:
            if each > offset:
                break
            self._tracker.mark(each)

    def _drop_finished_locked(
        self, messages: Sequence[confluent_kafka.Message], last: int
    ) -> Sequence[confluent_kafka.Message]:
        """Leave out what the previous owner finished (it is marked at once, not processed)."""
        skip = self._skip
        kept = []
        index = 0
        for message in messages:
            offset = message.offset() or 0
            while index < len(skip) and skip[index][1] < offset:
                index += 1
            if index < len(skip) and skip[index][0] <= offset:
                self._tracker.mark(offset)
            else:
                kept.append(message)
        self._skip = [r for r in skip if r[1] > last]
        return kept

    def _route_locked(self) -> None:
        """Spread queued chunks over the lanes (virtual partitions only)."""
        planner = self._planner
        assert planner is not None
        while self._inbox and not self._serial:
            chunk = self._inbox[0]
            try:
                keys = planner.keys(chunk)
            except Exception as exc:
                # Without keys, order can only be kept by running the chunk alone, unsplit.
                self._serial = True
                self._events.append(
                    (
                        "error.occurred",
                        {
                            "type": "virtual_partitions.partitioner",
                            "topic": self.topic,
                            "partition": self.partition,
                            "error": exc,
                        },
                    )
                )
                return
            self._inbox.popleft()
            lanes = planner.plan(keys, [lane.size + _running(lane) for lane in self._lanes])
            per_lane: dict[int, tuple[list[confluent_kafka.Message], list[Hashable]]] = {}
            for message, key, lane_index in zip(chunk, keys, lanes, strict=True):
                messages, lane_keys = per_lane.setdefault(lane_index, ([], []))
                messages.append(message)
                lane_keys.append(key)
            for lane_index, (messages, lane_keys) in per_lane.items():
                self._lanes[lane_index].push(messages, lane_keys)

    def _next_jobs_locked(self) -> list[Job]:
        if self._predecessor is not None:
            if not self._predecessor.idle:
                return []
            self._predecessor = None
        jobs: list[Job] = []
        window = self._window_locked()
        for lane in self._lanes:
            if lane.in_flight is not None:
                continue
            if lane.hooks:
                hook = lane.hooks.popleft()
                lane.in_flight = hook
                jobs.append(hook)
                continue
            if (
                self._state != "active"
                or self._held
                or self._seek is not None
                or not (lane.size or lane.dead_letter)
            ):
                continue
            if lane.retry_at is not None:
                if self._clock() < lane.retry_at:
                    continue
                lane.retry_at = None
            if lane.dead_letter is not None:
                letter_job = DeadLetterJob(self, lane.index)
                lane.in_flight = letter_job
                jobs.append(letter_job)
                continue
            if window is not None and (lane.first_offset() or 0) > window:
                continue
            batch = self._batch_locked(lane)
            lane.in_flight = batch
            jobs.append(batch)
        if self._serial and self._state == "active" and not self._held:
            serial = self._serial_job_locked()
            if serial is not None:
                jobs.append(serial)
        if self._eof and not jobs and self._drained_locked():
            self._eof = False
            hook = HookJob(self, 0, "eofed")
            self._lanes[0].in_flight = hook
            jobs.append(hook)
        return jobs

    def _drained_locked(self) -> bool:
        return not self._inbox and all(
            lane.idle and not lane.size and lane.dead_letter is None for lane in self._lanes
        )

    def _batch_locked(self, lane: Lane) -> ConsumeJob:
        messages, keys = lane.take(lane.batch_limit(self._settings.max_messages))
        self._size -= len(messages)
        first, last = _offsets(messages)
        if self._planner is None:
            job = ConsumeJob(self, lane.index, messages, first, last, lane.attempt)
        else:
            offsets = [m.offset() or 0 for m in messages]
            job = ConsumeJob(self, lane.index, messages, first, last, lane.attempt, offsets, keys)
        job.high_watermark = self._high_watermark
        return job

    def _serial_job_locked(self) -> ConsumeJob | None:
        """The chunk the partitioner failed on, once every lane is idle and empty."""
        if any(not lane.idle or lane.size for lane in self._lanes):
            return None
        lane = self._lanes[0]
        if lane.retry_at is not None:
            if self._clock() < lane.retry_at:
                return None
            lane.retry_at = None
        chunk = self._inbox.popleft()
        self._size -= len(chunk)
        first, last = _offsets(chunk)
        job = ConsumeJob(self, 0, chunk, first, last, lane.attempt)
        lane.in_flight = job
        return job

    def _window_locked(self) -> int | None:
        """Virtual partitions: the furthest offset a lane may start on, so that what finishes
        above the commit point always fits in the commit metadata (``progress.MAX_SPAN``)."""
        if self._planner is None:
            return None
        committable = self._tracker.committable()
        return None if committable is None else committable + progress.MAX_SPAN

    def _passed_locked(self, lane: Lane, offset: int) -> None:
        """The lane got past ``offset`` (processed or dead-lettered): failures are over."""
        lane.attempt = 0
        lane.retry_at = None
        if lane.isolate_until is not None and offset < lane.isolate_until:
            lane.head_runs = 1  # the next message also ran in the batch that failed
        else:
            lane.isolate_until = None
            lane.head_runs = 0

    def _retry_locked(self, lane: Lane, job: ConsumeJob, error: BaseException) -> None:
        unfinished: list[confluent_kafka.Message] = []
        unfinished_keys: list[Hashable] = []
        finished_keys: list[Hashable] = []
        keys = job.keys if job.keys is not None else [None] * len(job.messages)
        for message, key in zip(job.messages, keys, strict=True):
            if self._tracker.is_finished(message.offset() or 0):
                finished_keys.append(key)
            else:
                unfinished.append(message)
                unfinished_keys.append(key)
        if job.keys is not None:
            self._release_locked(finished_keys)
        if not unfinished:
            self._passed_locked(lane, job.last_offset)  # everything was marked before it raised
            return
        if job.keys is None and self._planner is not None:
            # A failed unsplit chunk goes back to the head of the routing queue, whole.
            self._inbox.appendleft(unfinished)
            self._serial = True
            self._size += len(unfinished)
            self._back_off_locked(lane, unfinished[0].offset())
            return
        if len(unfinished) > 1:
            # Which message failed is unknown: run them one at a time to find it.
            lane.isolate_until = max(lane.isolate_until or -1, job.last_offset)
            lane.head_runs = 1
        else:
            lane.head_runs += 1
        dlq = self.route.dead_letter_queue
        if dlq is not None and len(unfinished) == 1 and lane.head_runs > dlq.max_retries:
            self._dead_letter_locked(lane, unfinished[0], unfinished_keys[0], error)
            return
        lane.push(unfinished, unfinished_keys if job.keys is not None else None, True)
        self._size += len(unfinished)
        self._back_off_locked(lane, unfinished[0].offset())

    def _dead_letter_locked(
        self, lane: Lane, message: confluent_kafka.Message, key: Hashable, error: BaseException
    ) -> None:
        """``message`` ran ``max_retries + 1`` times: send it to the DLQ (or skip it)."""
        dlq = self.route.dead_letter_queue
        assert dlq is not None
        offset = message.offset() or 0
        if dlq.topic is None:
            self._tracker.mark(offset)
            self._passed_locked(lane, offset)
            self._release_locked([key])
            self._events.append(
                (
                    "dead_letter_queue.dispatched",
                    {
                        "topic": self.topic,
                        "partition": self.partition,
                        "offset": offset,
                        "dead_letter_topic": None,
                        "attempts": lane.head_runs,
                        "skipped": True,
                        "error": error,
                    },
                )
            )
            return
        lane.dead_letter = DeadLetter(message, key, error, lane.head_runs)

    def _back_off_locked(self, lane: Lane, offset: int | None = None) -> None:
        lane.attempt += 1
        backoff = min(self._pause_first * 2 ** (lane.attempt - 1), self._pause_most)
        lane.retry_at = self._clock() + backoff
        payload = {
            "topic": self.topic,
            "partition": self.partition,
            "lane": lane.index,
            "offset": offset,
            "attempt": lane.attempt,
            "backoff": backoff,
        }
        self._events.append(("consumer.paused", payload))
        self._events.append(("consumer.retry", payload))

    def _release_locked(self, keys: Sequence[Hashable] | None) -> None:
        if self._planner is not None and keys is not None:
            self._planner.release(keys)

    def _drop_queued_locked(self) -> None:
        for lane in self._lanes:
            lane.clear()
        self._inbox.clear()
        self._serial = False
        self._size = 0
        if self._planner is not None:
            self._planner.clear()

    # -- events (lock not held) -----------------------------------------------------------

    def _flush_events(self) -> None:
        if not self._events:
            return
        with self._lock:
            events, self._events = self._events, []
        for name, payload in events:
            self._monitor.publish(name, **payload)

    def _report(
        self, job: ConsumeJob, error: BaseException | None, critical: bool, took: float
    ) -> None:
        if error is None:
            if self._monitor.listens("worker.processed"):
                self._monitor.publish(
                    "worker.processed",
                    topic=self.topic,
                    partition=self.partition,
                    lane=job.lane,
                    messages=len(job.messages),
                    first_offset=job.first_offset,
                    last_offset=job.last_offset,
                    took=took,
                )
            return
        self._monitor.publish(
            "error.occurred",
            type="consumer.consume.critical" if critical else "consumer.consume",
            topic=self.topic,
            partition=self.partition,
            lane=job.lane,
            first_offset=job.first_offset,
            last_offset=job.last_offset,
            attempt=job.attempt + 1,
            error=error,
        )
        if critical and error is not None:
            self._on_critical(error)


def _running(lane: Lane) -> int:
    job = lane.in_flight
    return len(job.messages) if isinstance(job, ConsumeJob) else 0


def _offsets(messages: Sequence[confluent_kafka.Message]) -> tuple[int, int]:
    """First and last offset of fetched messages (which always carry offsets)."""
    first, last = messages[0].offset(), messages[-1].offset()
    if first is None or last is None:
        raise OffsetError(f"a fetched message has no offset: {messages[0]!r}")
    return first, last


def _header_items(raw: confluent_kafka.Message) -> list[tuple[str, str | bytes | None]]:
    headers = raw.headers()
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return [(str(name), value) for name, value in headers]
