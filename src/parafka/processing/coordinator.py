"""The per-partition coordinator: the state a listener and the workers share for one partition.

Threads: the listener calls :meth:`fetched`, :meth:`due`, :meth:`committable`, :meth:`revoke`,
:meth:`lose` and :meth:`close`; a worker calls :meth:`instance`, :meth:`mark`, :meth:`finished`
and :meth:`run_hook` while it runs one of this partition's jobs. ``_lock`` guards every field
marked "guarded" below. At most one job of a partition is in flight at any time (batch or hook),
which is what keeps offset order and makes the consumer instance single-threaded.

Flow control without a barrier: fetched messages go to a local backlog; when the partition is
idle, the next batch (up to ``max_messages``) leaves the backlog at once, from whichever thread
notices first (the listener after a fetch, or the worker that just finished the previous batch).
The listener pauses the partition at the broker when the backlog is full and resumes it when
the backlog has drained to half.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from parafka.instrumentation import Monitor
from parafka.processing.jobs import ConsumeJob, HookJob, Job
from parafka.processing.offsets import OffsetError, OffsetTracker

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.config import Settings
    from parafka.consumer import Consumer
    from parafka.routing import Route

__all__ = ["Coordinator"]

State = Literal["active", "closing", "revoked"]


class Coordinator:
    """In-flight work, backlog, offsets and retry state of one assigned partition."""

    def __init__(
        self,
        route: Route,
        partition: int,
        settings: Settings,
        monitor: Monitor,
        notify: Callable[[Coordinator], None],
        on_critical: Callable[[BaseException], None],
        predecessor: Coordinator | None = None,
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
        self._lock = threading.Lock()
        # guarded by _lock:
        self._tracker = OffsetTracker()
        # Fetched chunks in offset order; _backlog_size counts their messages.
        self._backlog: deque[Sequence[confluent_kafka.Message]] = deque()
        self._backlog_size = 0
        self._in_flight: Job | None = None
        self._state: State = "active"
        self._hooks: deque[HookJob] = deque()
        self._retry_at: float | None = None
        self._attempt = 0
        self._predecessor = predecessor
        # touched only by the worker running this partition's job (one at a time):
        self._consumer: Consumer | None = None
        self.instance_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Coordinator({self.group_id}/{self.topic}/{self.partition}, {self._state})"

    # -- listener side ---------------------------------------------------------------------

    def fetched(self, messages: Sequence[confluent_kafka.Message]) -> Job | None:
        """Take freshly fetched messages (in offset order); return a job to enqueue, if any."""
        first, last = _offsets(messages)
        with self._lock:
            if self._state != "active":
                return None
            self._tracker.register(first, last)
            self._backlog.append(messages)
            self._backlog_size += len(messages)
            return self._next_job_locked()

    def due(self) -> Job | None:
        """Called periodically: a job whose retry back-off or predecessor has passed."""
        with self._lock:
            return self._next_job_locked()

    @property
    def backlog_size(self) -> int:
        """Messages fetched and not yet handed to a worker (a racy read is fine for pausing)."""
        return self._backlog_size

    @property
    def in_flight(self) -> Job | None:
        return self._in_flight

    @property
    def idle(self) -> bool:
        """No job in flight and no hook pending."""
        with self._lock:
            return self._in_flight is None and not self._hooks

    def committable(self) -> int | None:
        """The offset to store for this partition; None when there is none or it is not ours."""
        with self._lock:
            if self._state == "revoked":
                return None
            return self._tracker.committable()

    def revoke(self) -> tuple[int | None, Job | None]:
        """The partition is taken away: return its last committable offset and the next job.

        Backlog is dropped; a running batch may finish but its offsets are ignored; the
        ``revoked()`` hook runs after it.
        """
        with self._lock:
            offset = None if self._state == "revoked" else self._tracker.committable()
            if self._state != "revoked":
                if self._state == "active":  # after close(), shutdown() is the last hook
                    self._hooks.append(HookJob(self, "revoked"))
                self._state = "revoked"
                self._backlog.clear()
                self._backlog_size = 0
            return offset, self._next_job_locked()

    def close(self) -> Job | None:
        """The app stops: no new batches; the ``shutdown()`` hook runs after the running one."""
        with self._lock:
            if self._state == "active":
                self._state = "closing"
                self._backlog.clear()
                self._backlog_size = 0
                self._hooks.append(HookJob(self, "shutdown"))
            return self._next_job_locked()

    # -- worker side -----------------------------------------------------------------------

    def instance(self) -> Consumer | None:
        """The partition's consumer instance, created (and ``initialized()``) on first use."""
        if self._consumer is None:
            try:
                consumer = self.route.consumer()
                consumer.topic = self.topic
                consumer.partition = self.partition
                consumer.initialized()
            except Exception as exc:
                self.instance_error = exc
                return None
            self._consumer = consumer
            self.instance_error = None
            self._monitor.publish(
                "consumer.initialized", topic=self.topic, partition=self.partition
            )
        return self._consumer

    def mark(self, job: ConsumeJob, offset: int) -> bool:
        """Mark ``job``'s offsets up to ``offset`` finished; False if the partition is gone."""
        if not job.first_offset <= offset <= job.last_offset:
            raise ValueError(
                f"offset {offset} is not in the batch being processed "
                f"({job.first_offset}..{job.last_offset})"
            )
        with self._lock:
            if self._state == "revoked":
                return False
            self._tracker.mark(job.first_offset, offset)
        self._notify(self)
        return True

    def finished(self, job: ConsumeJob, error: BaseException | None, took: float) -> Job | None:
        """A batch ended (``error`` None on success); return the partition's next job."""
        critical = error is not None and not isinstance(error, Exception)
        with self._lock:
            self._in_flight = None
            if self._state != "revoked":
                if error is None:
                    if not self.route.manual_offset_management:
                        self._tracker.mark(job.first_offset, job.last_offset)
                    self._attempt = 0
                    self._retry_at = None
                elif not critical:
                    self._retry_locked(job)
            next_job = None if critical else self._next_job_locked()
        self._notify(self)
        if error is None:
            if self._monitor.listens("worker.processed"):
                self._monitor.publish(
                    "worker.processed",
                    topic=self.topic,
                    partition=self.partition,
                    messages=len(job.messages),
                    first_offset=job.first_offset,
                    last_offset=job.last_offset,
                    took=took,
                )
        elif critical:
            self._monitor.publish(
                "error.occurred",
                type="consumer.consume.critical",
                topic=self.topic,
                partition=self.partition,
                error=error,
            )
            assert error is not None
            self._on_critical(error)
        else:
            self._monitor.publish(
                "error.occurred",
                type="consumer.consume",
                topic=self.topic,
                partition=self.partition,
                first_offset=job.first_offset,
                last_offset=job.last_offset,
                attempt=job.attempt + 1,
                error=error,
            )
        return next_job

    def run_hook(self, job: HookJob) -> Job | None:
        """Run ``revoked()`` or ``shutdown()`` on the instance, if one was ever created."""
        consumer = self._consumer
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
                "consumer.revoked" if job.hook == "revoked" else "consumer.shutdown",
                topic=self.topic,
                partition=self.partition,
            )
        with self._lock:
            self._in_flight = None
            next_job = self._next_job_locked()
        self._notify(self)
        return next_job

    # -- internals (lock held) ------------------------------------------------------------

    def _take_locked(self, limit: int) -> Sequence[confluent_kafka.Message]:
        """Up to ``limit`` messages from the backlog's front, copying only when chunks merge."""
        backlog = self._backlog
        chunk = backlog.popleft()
        if len(chunk) > limit:
            backlog.appendleft(chunk[limit:])
            chunk = chunk[:limit]
        elif len(chunk) < limit and backlog:
            merged = list(chunk)
            while backlog and len(merged) < limit:
                following = backlog.popleft()
                room = limit - len(merged)
                if len(following) > room:
                    backlog.appendleft(following[room:])
                    following = following[:room]
                merged.extend(following)
            chunk = merged
        self._backlog_size -= len(chunk)
        return chunk

    def _retry_locked(self, job: ConsumeJob) -> None:
        unfinished = [m for m in job.messages if not self._tracker.is_finished(m.offset() or 0)]
        if unfinished:
            self._backlog.appendleft(unfinished)
            self._backlog_size += len(unfinished)
        self._attempt = job.attempt + 1
        backoff = min(
            self._settings.pause_timeout * 2 ** (self._attempt - 1),
            self._settings.pause_max_timeout,
        )
        self._retry_at = self._clock() + backoff
        self._monitor.publish(
            "consumer.retry",
            topic=self.topic,
            partition=self.partition,
            offset=unfinished[0].offset() if unfinished else job.last_offset + 1,
            attempt=self._attempt,
            backoff=backoff,
        )

    def _next_job_locked(self) -> Job | None:
        if self._in_flight is not None:
            return None
        if self._predecessor is not None:
            if not self._predecessor.idle:
                return None
            self._predecessor = None
        if self._hooks:
            hook = self._hooks.popleft()
            self._in_flight = hook
            return hook
        if self._state != "active" or not self._backlog:
            return None
        if self._retry_at is not None:
            if self._clock() < self._retry_at:
                return None
            self._retry_at = None
        batch = self._take_locked(self._settings.max_messages)
        first, last = _offsets(batch)
        job = ConsumeJob(self, batch, first, last, self._attempt)
        self._in_flight = job
        return job


def _offsets(messages: Sequence[confluent_kafka.Message]) -> tuple[int, int]:
    """First and last offset of fetched messages (which always carry offsets)."""
    first, last = messages[0].offset(), messages[-1].offset()
    if first is None or last is None:
        raise OffsetError(f"a fetched message has no offset: {messages[0]!r}")
    return first, last
