"""The per-partition coordinator: the state machine a listener and the workers share.

Threads: the listener calls :meth:`fetched`, :meth:`due`, :meth:`advance`, :meth:`commit_point`,
:meth:`seek_due`, :meth:`sought`, :meth:`revoke` and :meth:`close`; a worker calls
:meth:`mark`, :meth:`finished`, :meth:`send_dead_letter`, :meth:`run_hook` and
:meth:`user_pause` while it runs one of this partition's jobs. ``_lock`` guards the offsets, the
lanes and the routing state. Each lane has at most one job in flight (batch, hook or dead
letter), which keeps its order and makes its consumer instance single-threaded.

The parts, each in its own module: :mod:`~parafka.processing.offsets` (pending offsets and the
partition's end), :mod:`~parafka.processing.intake` (keys and lanes of virtual partitions,
computed outside the lock), :mod:`~parafka.processing.retries` (back-off, isolation and
dead-letter decisions), :mod:`~parafka.processing.executor` (consumer instances, hooks, dead
letter produces; never under the lock). This module ties them together.

Flow control without a barrier: fetched messages go to their lane's backlog; an idle lane's next
batch (up to ``max_messages``) leaves at once, from whichever thread notices first — or, with
``max_wait_time`` > 0, once it is full or its oldest message has waited that long. The listener
pauses the partition at the broker when the backlog is full and resumes it at half.

A consumer's ``pause(offset)`` or ``seek(offset)`` stops new batches at once but touches no
other lane's work: once every lane is idle, only the calling lane's queued messages below
``offset`` count as skipped; the partition is fetched again from the lowest offset still
unfinished (or ``offset``), and what finished above that point is not processed twice.

Events are collected under the lock and published after it is released, so a subscriber can
never deadlock the coordinator.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from parafka.dead_letters import undeliverable_dead_letter
from parafka.errors import UndeliverableError
from parafka.instrumentation import EventName, Monitor
from parafka.processing import progress, retries
from parafka.processing.distribution import Distributor
from parafka.processing.executor import ConsumerMisdeclared, Executor
from parafka.processing.intake import Failed, Intake, Segment, without
from parafka.processing.jobs import ConsumeJob, DeadLetterJob, HookJob, Job
from parafka.processing.lanes import DeadLetter, Lane
from parafka.processing.offsets import OffsetError, OffsetTracker, Ranges, covered
from parafka.processing.seeking import Pause, Request
from parafka.processing.virtual import LanePlanner

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.config import Settings
    from parafka.processing.coroutines import CoroutineRunner
    from parafka.producing import Sender
    from parafka.routing import Route

__all__ = ["Coordinator"]

State = Literal["active", "closing", "revoked"]

#: ``Coordinator.resume_at`` when the partition is not paused for back-pressure: every
#: change of its offsets or backlog wakes the listener.
ALWAYS_WAKE = sys.maxsize


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
        producer: Sender | None = None,
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
        #: The engine's clock (monotonic seconds); injected so tests control back-offs.
        self.clock = clock
        self._clock = clock
        #: Where ``async def consume`` runs (None when the app has no async consumer).
        self.runner = runner
        self._commit = commit
        self._pause_first = route.pause_timeout or settings.pause_timeout
        self._pause_most = route.pause_max_timeout or settings.pause_max_timeout
        vp = route.virtual_partitions
        self.virtual = vp is not None
        count = (vp.max_partitions or settings.concurrency) if vp is not None else 1
        self.executor = Executor(route, partition, count, monitor, on_critical, producer)
        # Listener thread only (outside the lock):
        self._intake = Intake(vp, count, route.deserializers) if vp is not None else None
        self._lock = threading.Lock()
        # guarded by _lock:
        self._tracker = OffsetTracker()
        self._lanes = [Lane(index, keyed=vp is not None) for index in range(count)]
        planner = LanePlanner(count) if vp is not None and vp.distribution == "balanced" else None
        self._distributor = Distributor(self._lanes, planner, self._failed_key_locked)
        self._size = 0  # messages queued in lanes and waiting in the distributor
        #: Queued messages before the listener pauses the partition: per lane, since one
        #: partition feeds every lane.
        self.backlog_limit = settings.backlog_limit * count
        self._state: State = "active"
        self._predecessor = predecessor
        self._skip: Ranges = list(finished)  # finished offsets not to process again
        self._pause: Pause | None = None
        self._eof = False  # the end of the partition was reached: eofed() once drained
        self._high_watermark: int | None = None
        self._held = False  # quiet mode: running work finishes, nothing new starts
        #: Written by the listener thread, read racily by any: while the listener has this
        #: partition paused for back-pressure, the backlog size at which it may resume; a
        #: change above it need not wake the listener (its next turn serves it).
        self.resume_at = ALWAYS_WAKE
        self._events: list[tuple[EventName, dict[str, Any]]] = []

    def __repr__(self) -> str:
        return f"Coordinator({self.group_id}/{self.topic}/{self.partition}, {self._state})"

    # -- listener side ---------------------------------------------------------------------

    def fetched(
        self, messages: Sequence[confluent_kafka.Message], high_watermark: int | None = None
    ) -> list[Job]:
        """Take freshly fetched messages (in offset order); return jobs to enqueue."""
        if not messages:
            return []
        segments = self._intake.segments(messages) if self._intake is not None else None
        first, last = _offsets(messages)
        # Per-message offsets only when the fetch has holes (the hot path stays per fetch).
        offsets: Sequence[int] = (
            range(first, last + 1)
            if last - first + 1 == len(messages)
            else [message.offset() or 0 for message in messages]
        )
        with self._lock:
            if self._state != "active":
                return []
            if high_watermark is not None and high_watermark >= 0:
                self._high_watermark = high_watermark
            if self._pause is not None and self._pause.target is not None:
                return []  # fetched before the seek: fetched again from the target
            end = self._tracker.end
            if end is not None and first < end:
                self._rewind_locked(first, end)
            self._tracker.register(offsets)
            if self._skip:
                messages, segments = self._drop_finished_locked(messages, segments, offsets)
            if segments is None:
                if messages:
                    self._lanes[0].push(messages)
                    self._size += len(messages)
            else:
                for segment in segments:
                    self._size += 1 if isinstance(segment, Failed) else len(segment.messages)
                    self._distributor.accept(segment)
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    def due(self) -> list[Job]:
        """Called periodically: jobs whose retry back-off or predecessor has passed."""
        with self._lock:
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    def advance(self, position: int) -> bool:
        """The client's position for this partition (listener): offsets below it that were
        never delivered are holes (control records, aborted transactions). True when the
        commit point may have moved."""
        with self._lock:
            if self._state != "active" or self._pause is not None:
                return False
            return self._tracker.advance(position) and not self._tracker.pending

    @property
    def backlog_size(self) -> int:
        """Messages fetched and not yet handed to a worker (a racy read is fine for pausing)."""
        return self._size

    @property
    def held(self) -> int:
        """Messages fetched and not finished: the backlog and the batches in flight (a racy
        read, for the memory budget)."""
        return self._size + sum(
            len(job.messages)
            for lane in self._lanes
            if isinstance(job := lane.in_flight, ConsumeJob)
        )

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
        """The offset to commit and its metadata (finished offsets above it, if any)."""
        with self._lock:
            if self._state == "revoked":
                return None
            return self._commit_point_locked()

    def progress(self) -> tuple[int, int] | None:
        """What :meth:`commit_point` would say, without encoding its metadata: the offset to
        commit and a revision that changes whenever the metadata may have (0 without virtual
        partitions, whose metadata is always empty). None when :meth:`commit_point` is. The
        listener calls this after every notification and encodes only when it commits."""
        with self._lock:
            if self._state == "revoked":
                return None
            offset = self._tracker.committable()
            if offset is None:
                return None
            return offset, self._tracker.revision if self.virtual else 0

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

    def hold(self) -> None:
        """Quiet mode: let running batches finish but start no new ones (backlog kept)."""
        with self._lock:
            self._held = True

    def eofed(self) -> list[Job]:
        """The listener saw the end of the partition: ``eofed()`` runs once it is drained."""
        with self._lock:
            if self._state == "active":
                self._eof = True
            jobs = self._next_jobs_locked()
        return jobs

    # -- pause and seek ---------------------------------------------------------------------

    def user_pause(self, offset: int, timeout: float | None, job: ConsumeJob | None = None) -> bool:
        """``Consumer.pause``/``seek`` (a worker, inside ``job``): stop starting batches; once
        every lane is idle and ``timeout`` s have passed (None: the route's pause timeout),
        fetch again from ``offset`` (or from lower, where another lane's work is unfinished).
        False when the partition is no longer ours."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"cannot pause or seek to offset {offset!r}: need an int >= 0")
        delay = self._pause_first if timeout is None else max(float(timeout), 0.0)
        with self._lock:
            if self._state != "active":
                return False
            lane: int | None = None
            first, last = offset, -1
            if job is not None and self._lanes[job.lane].in_flight is job:
                lane, first, last = job.lane, job.first_offset, job.last_offset
                job.mark_limit = min(job.mark_limit, offset - 1)
            resume_at = self._clock() + delay
            request = Request(offset, lane, first, last)
            if self._pause is None or self._pause.target is not None:
                if self._pause is not None:  # carried out, not yet sought: ask again after
                    resume_at = max(resume_at, self._pause.resume_at)
                self._pause = Pause([request], resume_at)
            else:
                self._pause.requests.append(request)
                self._pause.resume_at = max(self._pause.resume_at, resume_at)
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
            if self._pause is not None:
                self._pause.resume_at = self._clock()
        self._notify(self)

    def seek_due(self) -> int | None:
        """Listener: the offset to seek to, once every lane is idle and the pause is over."""
        with self._lock:
            pause = self._pause
            if pause is None or self._state != "active":
                return None
            if pause.target is None:
                if not all(lane.idle for lane in self._lanes):
                    return None
                self._carry_out_pause_locked(pause)
            if self._clock() < pause.resume_at:
                return None
            return pause.target

    def wakes_at(self) -> float | None:
        """The earliest time (on :attr:`clock`) at which work waiting for the clock becomes
        due: a lane's retry back-off, a consumer's pause, a partial batch (``max_wait_time``).
        None when nothing waits for the clock. For a driver with a fake clock
        (``parafka.testing``), which moves it from one such time to the next."""
        with self._lock:
            if self._state == "revoked":
                return None
            times = [
                lane.retry_at
                for lane in self._lanes
                if lane.retry_at is not None and (lane.size or lane.dead_letter)
            ]
            if self._pause is not None:
                times.append(self._pause.resume_at)
            wait = self._settings.max_wait_time
            if wait > 0:
                times.extend(
                    lane.filling_since + wait
                    for lane in self._lanes
                    if lane.filling_since is not None and lane.size and lane.in_flight is None
                )
            return min(times, default=None)

    @property
    def seeking(self) -> bool:
        """A consumer's pause or seek is pending (the listener keeps the partition paused)."""
        return self._pause is not None

    def sought(self) -> list[Job]:
        """Listener: the client now fetches from the pause target."""
        with self._lock:
            self._pause = None
            jobs = self._next_jobs_locked()
        self._flush_events()
        return jobs

    # -- worker side -----------------------------------------------------------------------

    def commit_now(self, timeout: float) -> bool:
        """Ask the listener to commit this partition's offset now and wait (worker thread)."""
        if self._commit is None:
            return False
        return self._commit(self, timeout)

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
            self._mark_locked(job, min(offset, job.mark_limit))
        self._notify(self)
        return True

    def finished(
        self,
        job: ConsumeJob,
        error: BaseException | None,
        took: float,
        setup_failed: bool = False,
    ) -> list[Job]:
        """A batch ended (``error`` None on success); return the jobs that became ready.

        ``setup_failed``: the lane's consumer could not be created or initialized; the batch
        goes back to its lane and the lane backs off, counting nothing against the messages.
        """
        critical = (
            error is not None
            and not setup_failed
            and (
                not isinstance(error, Exception)
                or isinstance(error, (*self._settings.critical_errors, ConsumerMisdeclared))
            )
        )
        with self._lock:
            lane = self._lanes[job.lane]
            lane.in_flight = None
            if self._state != "revoked":
                if setup_failed:
                    self._requeue_locked(lane, job)
                    retries.after_setup_failure(lane.retry)
                    self._back_off_locked(lane, job.first_offset)
                elif error is None:
                    if not self.route.manual_offset_management:
                        self._mark_locked(job, min(job.last_offset, job.mark_limit))
                    retries.after_success(lane.retry, job.last_offset)
                    lane.retry_at = None
                    self._release_locked(job.keys)
                elif not critical:
                    self._retry_locked(lane, job, error)
            jobs = [] if critical else self._next_jobs_locked()
        self._notify(self)
        if not setup_failed:
            self._report(job, error, critical, took)
        self._flush_events()
        return jobs

    def send_dead_letter(self, job: DeadLetterJob) -> list[Job]:
        """Produce the lane's dead letter and wait for the ack (on a worker thread)."""
        lane = self._lanes[job.lane]
        dlq = self.route.dead_letter_queue
        with self._lock:
            letter = lane.dead_letter
            if letter is None or dlq is None or dlq.topic is None or self._state == "revoked":
                # The lane was cleared (revoke, close, pause) while this job waited.
                lane.in_flight = None
                jobs = self._next_jobs_locked()
                letter = None
        if letter is None or dlq is None or dlq.topic is None:
            self._notify(self)
            self._flush_events()
            return jobs
        offset = letter.message.offset() or 0
        failure: BaseException | None = None
        try:
            self.executor.send_dead_letter(
                dlq.topic, letter.message, self.group_id, letter.runs, letter.error
            )
        except Exception as exc:
            failure = exc
        undeliverable = isinstance(failure, UndeliverableError)
        if failure is None or (undeliverable and dlq.on_undeliverable == "skip"):
            # Published before the offset is marked: a subscriber sees the dead letter before
            # any committed offset passes it (and before the lane's next batch).
            self._monitor.publish(
                "dead_letter_queue.dispatched",
                topic=self.topic,
                partition=self.partition,
                offset=offset,
                dead_letter_topic=None if failure is not None else dlq.topic,
                attempts=letter.runs,
                skipped=failure is not None,
                error=letter.error if failure is None else failure,
            )
        critical: BaseException | None = None
        with self._lock:
            lane.in_flight = None
            if self._state != "revoked" and lane.dead_letter is letter:
                if failure is None or (undeliverable and dlq.on_undeliverable == "skip"):
                    lane.dead_letter = None
                    if self._tracker.end is not None and offset < self._tracker.end:
                        self._tracker.mark(offset)
                    retries.after_success(lane.retry, offset)
                    self._release_locked([letter.key])
                elif isinstance(failure, UndeliverableError):
                    lane.retry_at = float("inf")  # never again: the app stops
                    critical = undeliverable_dead_letter(
                        topic=self.topic,
                        partition=self.partition,
                        offset=offset,
                        dead_letter_topic=dlq.topic,
                        error=failure,
                    )
                else:
                    lane.retry.attempt += 1
                    self._back_off_locked(lane, offset)
            jobs = [] if critical is not None else self._next_jobs_locked()
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
        if critical is not None:
            self._on_critical(critical)
        self._flush_events()
        return jobs

    def run_hook(self, job: HookJob) -> list[Job]:
        """Run the lane's ``revoked()``, ``shutdown()`` or ``eofed()`` hook."""
        self.executor.run_hook(job.lane, job.hook)
        with self._lock:
            self._lanes[job.lane].in_flight = None
            jobs = self._next_jobs_locked()
        self._notify(self)
        self._flush_events()
        return jobs

    # -- internals (lock held) ------------------------------------------------------------

    def _commit_point_locked(self) -> tuple[int, str] | None:
        offset = self._tracker.committable()
        if offset is None:
            return None
        if not self.virtual:
            return offset, ""
        return offset, progress.encode(offset, self._tracker.finished_above_commit())

    def _mark_locked(self, job: ConsumeJob, offset: int) -> None:
        end = self._tracker.end
        if end is None:
            return
        offset = min(offset, end - 1)
        if job.offsets is None:
            if offset >= job.first_offset:
                self._tracker.mark(job.first_offset, offset)
            return
        upto = [each for each in job.offsets if each <= offset]
        self._tracker.mark_each(upto)

    def _next_jobs_locked(self) -> list[Job]:
        if self._predecessor is not None:
            if not self._predecessor.idle:
                return []
            self._predecessor = None
        jobs: list[Job] = []
        active = self._state == "active" and not self._held and self._pause is None
        if active and self._distributor.blocked:
            self._distributor.step()
        window = self._window_locked()
        now: float | None = None
        filling = self._settings.max_wait_time > 0
        for lane in self._lanes:
            if filling:
                if not lane.size:
                    lane.filling_since = None
                elif lane.filling_since is None:
                    now = self._clock() if now is None else now
                    lane.filling_since = now
            if lane.in_flight is not None:
                continue
            if lane.hooks:
                hook = lane.hooks.popleft()
                lane.in_flight = hook
                jobs.append(hook)
                continue
            if not active or not (lane.size or lane.dead_letter):
                continue
            if lane.retry_at is not None:
                now = self._clock() if now is None else now
                if now < lane.retry_at:
                    continue
                lane.retry_at = None
            if lane.dead_letter is not None:
                letter_job = DeadLetterJob(self, lane.index)
                lane.in_flight = letter_job
                jobs.append(letter_job)
                continue
            if window is not None and (lane.first_offset() or 0) > window:
                continue
            if filling and self._filling_locked(lane):
                continue
            batch = self._batch_locked(lane)
            lane.in_flight = batch
            jobs.append(batch)
        if self._eof and not jobs and self._drained_locked():
            self._eof = False
            hook = HookJob(self, 0, "eofed")
            self._lanes[0].in_flight = hook
            jobs.append(hook)
        return jobs

    def _filling_locked(self, lane: Lane) -> bool:
        """``max_wait_time``: True while an idle lane's partial batch may still wait for more
        messages. It leaves once it holds a full batch, or once its oldest message has been
        queued ``max_wait_time`` (the listener's sweep calls :meth:`due` every
        ``poll_interval``, so it leaves within one more sweep). A retry never waits: its
        messages already did, and its back-off is its own."""
        limit = lane.batch_limit(self._settings.max_messages)
        if lane.size >= limit or lane.retry.attempt or lane.filling_since is None:
            return False
        return self._clock() - lane.filling_since < self._settings.max_wait_time

    def _drained_locked(self) -> bool:
        return not self._distributor.waiting and all(lane.drained for lane in self._lanes)

    def _batch_locked(self, lane: Lane) -> ConsumeJob:
        messages, keys = lane.take(lane.batch_limit(self._settings.max_messages))
        self._size -= len(messages)
        first, last = _offsets(messages)
        offsets = None
        if self.virtual or last - first + 1 != len(messages):
            offsets = [m.offset() or 0 for m in messages]
        job = ConsumeJob(self, lane.index, messages, first, last, lane.retry.attempt, offsets, keys)
        job.high_watermark = self._high_watermark
        return job

    def _window_locked(self) -> int | None:
        """Virtual partitions: the furthest offset a lane may start on, so that what finishes
        above the commit point always fits in the commit metadata (``progress.MAX_SPAN``)."""
        if not self.virtual:
            return None
        committable = self._tracker.committable()
        return None if committable is None else committable + progress.MAX_SPAN

    def _requeue_locked(self, lane: Lane, job: ConsumeJob) -> None:
        """Put a job's messages that still need work back at the front of its lane."""
        keys = job.keys if job.keys is not None else [None] * len(job.messages)
        kept: list[confluent_kafka.Message] = []
        kept_keys: list[Hashable] = []
        released: list[Hashable] = []
        for message, key in zip(job.messages, keys, strict=True):
            offset = message.offset() or 0
            if offset > job.mark_limit or self._tracker.is_finished(offset):
                released.append(key)
            else:
                kept.append(message)
                kept_keys.append(key)
        if job.keys is not None:
            self._release_locked(released)
        if kept:
            lane.push(kept, kept_keys if job.keys is not None else None, front=True)
            self._size += len(kept)

    def _retry_locked(self, lane: Lane, job: ConsumeJob, error: BaseException) -> None:
        before = lane.size
        self._requeue_locked(lane, job)
        unfinished = lane.size - before
        if not unfinished:
            retries.after_success(lane.retry, job.last_offset)  # all marked before it raised
            return
        dlq = self.route.dead_letter_queue
        decision = retries.after_failure(
            lane.retry, unfinished, job.last_offset, dlq.max_retries if dlq is not None else None
        )
        if decision == "dead_letter":
            messages, keys = lane.take(1)
            self._size -= 1
            self._dead_letter_locked(lane, messages[0], keys[0] if keys else None, error)
            return
        self._back_off_locked(lane, lane.first_offset())

    def _dead_letter_locked(
        self, lane: Lane, message: confluent_kafka.Message, key: Hashable, error: BaseException
    ) -> None:
        """``message`` ran ``max_retries + 1`` times: send it to the DLQ (or skip it)."""
        dlq = self.route.dead_letter_queue
        assert dlq is not None
        offset = message.offset() or 0
        if dlq.topic is None:
            self._tracker.mark(offset)
            retries.after_success(lane.retry, offset)
            self._release_locked([key])
            self._events.append(
                (
                    "dead_letter_queue.dispatched",
                    {
                        "topic": self.topic,
                        "partition": self.partition,
                        "offset": offset,
                        "dead_letter_topic": None,
                        "attempts": lane.retry.head_runs,
                        "skipped": True,
                        "error": error,
                    },
                )
            )
            return
        lane.dead_letter = DeadLetter(message, key, error, lane.retry.head_runs)

    def _back_off_locked(self, lane: Lane, offset: int | None) -> None:
        backoff = retries.backoff(lane.retry.attempt, self._pause_first, self._pause_most)
        lane.retry_at = self._clock() + backoff
        payload = {
            "topic": self.topic,
            "partition": self.partition,
            "lane": lane.index,
            "offset": offset,
            "attempt": lane.retry.attempt,
            "backoff": backoff,
        }
        self._events.append(("consumer.paused", payload))
        self._events.append(("consumer.retry", payload))

    def _carry_out_pause_locked(self, pause: Pause) -> None:
        """Every lane is idle: mark what the calling lanes skipped, truncate at the target,
        remember what finished above it, drop the queues (``processing.seeking``)."""
        if self._tracker.end is not None:
            for lane in self._lanes:
                queued = [message.offset() or 0 for message, _key in lane.queued()]
                skipped = pause.skips(lane.index, queued)
                self._tracker.mark_each(skipped)
                pause.skipped.extend(skipped)
        self._skip = pause.carry_out(self._tracker, self._skip)
        for lane in self._lanes:
            lane.clear()
            lane.retry_at = None
        self._distributor.clear()
        self._size = 0

    def _rewind_locked(self, first: int, end: int) -> None:
        """The partition was fetched again from ``first``, below its end, without a seek of
        ours (an offset reset, a truncated log): forget and drop what is at or above it."""
        self._events.append(
            (
                "offsets.rewound",
                {"topic": self.topic, "partition": self.partition, "offset": first, "end": end},
            )
        )
        self._tracker.truncate(first)
        self._skip = [(low, min(high, first - 1)) for low, high in self._skip if low < first]
        dropped: list[Hashable] = []
        for lane in self._lanes:
            before = lane.size
            dropped.extend(lane.drop_from(first))
            self._size -= before - lane.size
            job = lane.in_flight
            if isinstance(job, ConsumeJob):
                job.mark_limit = min(job.mark_limit, first - 1)
        self._size -= self._distributor.drop_from(first)
        self._release_locked(dropped)

    def _drop_finished_locked(
        self,
        messages: Sequence[confluent_kafka.Message],
        segments: list[Segment] | None,
        offsets: Sequence[int],
    ) -> tuple[Sequence[confluent_kafka.Message], list[Segment] | None]:
        """Leave out offsets already finished (by the previous owner, or before a seek): they
        are marked at once, not processed again."""
        dropped, self._skip = covered(offsets, self._skip)
        if not dropped:
            return messages, segments
        self._tracker.mark_each(sorted(dropped))
        kept = [m for m in messages if (m.offset() or 0) not in dropped]
        return kept, None if segments is None else without(segments, dropped)

    def _release_locked(self, keys: Sequence[Hashable] | None) -> None:
        self._distributor.release(keys)

    def _failed_key_locked(self, failed: Failed) -> None:
        self._events.append(
            (
                "error.occurred",
                {
                    "type": f"virtual_partitions.{failed.source}",
                    "topic": self.topic,
                    "partition": self.partition,
                    "offset": failed.message.offset(),
                    "error": failed.error,
                },
            )
        )

    def _drop_queued_locked(self) -> None:
        for lane in self._lanes:
            lane.clear()
        self._distributor.clear()
        self._pause = None
        self._size = 0

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


def _offsets(messages: Sequence[confluent_kafka.Message]) -> tuple[int, int]:
    """First and last offset of fetched messages (which always carry offsets)."""
    first, last = messages[0].offset(), messages[-1].offset()
    if first is None or last is None:
        raise OffsetError(f"a fetched message has no offset: {messages[0]!r}")
    return first, last
