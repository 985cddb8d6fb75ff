"""``async def consume``: one event loop thread runs the coroutines of async consumers.

Threads: a worker creates the consumer instance and calls :meth:`CoroutineRunner.submit`, which
returns at once (the worker is free again); the loop thread (``parafka-asyncio``) awaits
``consume()`` and reports to the job's coordinator. The lane's next batch, when it is ready at
once and its consumer instance exists, starts right there on the loop (no hop through a worker
and back); other jobs (hooks, dead letters, a first batch that must create its instance) go to
the jobs queue. A lane still has one job in flight (its coroutine), so order and offsets work as
for threads, while many partitions and lanes await their IO at the same time on one thread.
Submissions from workers are queued and taken by the loop in bursts: one wake-up of the loop
for all that arrived meanwhile, not one per batch. The watchdog thread reads which coroutines
run (:meth:`CoroutineRunner.running`) and where they wait.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from parafka.processing.jobs import ConsumeJob, Job
from parafka.processing.watchdog import Running, coroutine_stack

if TYPE_CHECKING:
    from parafka.consumer import Consumer
    from parafka.messages import Messages
    from parafka.processing.workers import JobsQueue

__all__ = ["CoroutineRunner"]


class CoroutineRunner:
    """The event loop thread shared by every async consumer of an app."""

    def __init__(self, jobs: JobsQueue, *, thread: bool = True) -> None:
        """``thread=False``: no loop thread; the owner runs the loop on its own thread with
        :meth:`run_until_idle` (``parafka.testing``'s synchronous driver)."""
        self._jobs = jobs
        jobs.runner = self
        # Guards _running: written on the loop thread, read by the watchdog thread.
        self._lock = threading.Lock()
        self._running: dict[ConsumeJob, Coroutine[Any, Any, None]] = {}
        # Submitted batches not yet started (appended by any thread, taken by the loop), and
        # whether a wake-up of the loop to take them is already on its way (under _lock).
        self._inbox: collections.deque[tuple[ConsumeJob, Consumer, Messages]] = collections.deque()
        self._wake_pending = False
        self._stopped = False  # set by stop(): nothing more is offered to the loop
        self._tasks: set[asyncio.Task[None]] = set()  # loop thread only: keeps tasks alive
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="parafka-asyncio", daemon=True)
        self._threaded = thread
        if thread:
            self._thread.start()

    def submit(self, job: ConsumeJob, consumer: Consumer, batch: Messages) -> None:
        """Start ``consumer.consume(batch)`` on the loop (any thread; returns at once)."""
        self._inbox.append((job, consumer, batch))
        with self._lock:
            if self._wake_pending:
                return  # the loop has yet to take the inbox: it will take this one too
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self._take_inbox)  # raises once the loop is closed

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the loop; coroutines still awaiting are abandoned (they hung past shutdown)."""
        self._stopped = True
        if not self._threaded:
            self._finish(self._loop)
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def run_until_idle(self) -> None:
        """Without the loop thread: run the loop on the calling thread until every submitted
        ``consume()`` coroutine has finished, those submitted meanwhile included."""
        if self._threaded:
            raise RuntimeError("run_until_idle() drives a runner made with thread=False")
        loop = self._loop
        while True:
            loop.run_until_complete(asyncio.sleep(0))  # starts what was submitted
            if not self._tasks:
                return
            loop.run_until_complete(asyncio.wait(set(self._tasks)))

    def running(self) -> list[Running]:
        """The ``consume()`` coroutines awaiting now, with where they wait (any thread)."""
        with self._lock:
            running = list(self._running.items())
        return [
            Running(
                job,
                self._thread.name,
                job.started_at,
                functools.partial(coroutine_stack, coroutine),
            )
            for job, coroutine in running
            if job.started_at is not None
        ]

    async def _run(self, job: ConsumeJob, consumer: Consumer, batch: Messages) -> None:
        started = job.coordinator.clock()
        error: BaseException | None = None
        consumer._parafka_job = job
        try:
            consume: Callable[[Messages], Coroutine[Any, Any, None]] = consumer.consume  # type: ignore[assignment]
            coroutine = consume(batch)
            with self._lock:
                self._running[job] = coroutine
            await coroutine
        except Exception as exc:
            error = exc
        except BaseException as exc:  # KeyboardInterrupt, SystemExit, cancellation: critical
            error = exc
        finally:
            consumer._parafka_job = None
            with self._lock:
                self._running.pop(job, None)
        for ready in job.coordinator.finished(job, error, job.coordinator.clock() - started):
            self._jobs.put(ready)  # offered back to this loop first (JobsQueue.put)

    def _take_inbox(self) -> None:
        """Start every submitted batch (loop thread)."""
        with self._lock:
            self._wake_pending = False
        inbox = self._inbox
        while inbox:
            self._start(*inbox.popleft())

    def _start(self, job: ConsumeJob, consumer: Consumer, batch: Messages) -> None:
        task = self._loop.create_task(self._run(job, consumer, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def offer(self, job: Job) -> bool:
        """Take ``job`` straight to the loop if it is an async batch whose consumer instance
        exists (the jobs queue asks, on any thread); False: a worker must run it (a hook, a
        dead letter, a synchronous consumer, a first batch, whose instance is created and
        ``initialized()`` on a worker, never on the loop, or a loop that has stopped)."""
        if not isinstance(job, ConsumeJob) or self._stopped:
            return False
        coordinator = job.coordinator
        if coordinator.runner is not self or not coordinator.route.asynchronous:
            return False
        # The lane has no other job in flight (this one is its next), so its instance is not
        # being created concurrently: reading it from here is safe.
        consumer = coordinator.executor.existing(job.lane)
        if consumer is None:
            return False
        job.started_at = coordinator.clock()
        if threading.current_thread() is self._thread:
            self._start(job, consumer, job.batch())  # on the loop already: no wake-up
            return True
        try:
            self.submit(job, consumer, job.batch())
        except RuntimeError:  # the loop closed meanwhile: a worker reports it, as before
            job.started_at = None
            return False
        return True

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            self._finish(loop)

    @staticmethod
    def _finish(loop: asyncio.AbstractEventLoop) -> None:
        """Coroutines still awaiting hung past the shutdown: cancel them (bounded), close."""
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
        loop.close()
