"""The jobs queue and the worker pool shared by every listener of an app.

Threads: listeners (and workers, for a partition's next batch) call :meth:`JobsQueue.put`;
worker threads (``parafka-worker-<n>``) take jobs with :meth:`JobsQueue.get` and run them. A
worker never touches a Kafka client: what it learns goes to the job's coordinator. With a
``watchdog_interval``, the pool also runs the watchdog thread (``parafka-watchdog``,
:mod:`parafka.processing.watchdog`), which reads the workers' current jobs and their stacks.
"""

from __future__ import annotations

import functools
import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parafka.instrumentation import Monitor
from parafka.processing.jobs import Job
from parafka.processing.watchdog import Running, Source, Watchdog

if TYPE_CHECKING:
    from parafka.processing.coroutines import CoroutineRunner

__all__ = ["Busy", "JobsQueue", "WorkerPool"]


class _Stop:
    """Sentinel: the worker that takes it exits."""


_STOP = _Stop()


class JobsQueue:
    """A FIFO of jobs (thread-safe; ``get`` blocks).

    With an event loop for async consumers (:attr:`runner`, set once before any job is put),
    ``put`` first offers each job to it: an async consumer's batch whose instance exists goes
    straight to the loop, without a worker's hop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Job | _Stop] = queue.SimpleQueue()
        self.runner: CoroutineRunner | None = None
        #: Whether a worker waits for a job now (set by the :class:`WorkerPool` that serves
        #: this queue; without one, never).
        self.worker_waiting: Callable[[], bool] = lambda: False

    def all_busy(self) -> bool:
        """True when a job put now would wait for a worker: jobs are queued, or no worker
        waits (any thread; a racy snapshot). With async consumers (:attr:`runner`), False:
        their batches start on the event loop at once."""
        if self.runner is not None:
            return False
        return not self._queue.empty() or not self.worker_waiting()

    def put(self, job: Job) -> None:
        runner = self.runner
        if runner is not None and runner.offer(job):
            return
        self._queue.put(job)

    def get(self) -> Job | _Stop:
        return self._queue.get()

    def stop_one(self) -> None:
        self._queue.put(_STOP)

    def __len__(self) -> int:
        return self._queue.qsize()


@dataclass(frozen=True)
class Busy:
    """A worker and the job it runs, for diagnostics and hang reports."""

    worker: str
    job: str
    running_for: float


class _Worker(threading.Thread):
    def __init__(self, pool: WorkerPool, name: str) -> None:
        # Daemon: a job that hangs past the shutdown timeout must not keep the process alive.
        super().__init__(name=name, daemon=True)
        self._pool = pool
        # Written by this thread, read by others for diagnostics (a racy snapshot is fine).
        self.current: Job | None = None

    def stack(self, job: Job) -> str | None:
        """This thread's stack while it runs ``job`` (any thread); None if it moved on."""
        if self.ident is None:
            return None
        frame = sys._current_frames().get(self.ident)
        if frame is None or self.current is not job:  # read after the frame: it was running
            return None
        return "".join(traceback.format_stack(frame))

    def run(self) -> None:
        pool = self._pool
        pool.monitor.publish("worker.started", worker=self.name)
        try:
            while True:
                job = pool.jobs.get()
                if isinstance(job, _Stop):
                    return
                self.current = job
                try:
                    ready = job.run()
                except Exception as exc:  # a parafka bug; never let it kill the worker
                    pool.monitor.publish(
                        "error.occurred", type="worker.job", job=job.describe(), error=exc
                    )
                    ready = []
                finally:
                    self.current = None
                for next_job in ready:
                    pool.jobs.put(next_job)
        finally:
            pool.retire(self)
            pool.monitor.publish("worker.stopped", worker=self.name)


class WorkerPool:
    """``size`` worker threads on one :class:`JobsQueue`; resizable while running."""

    def __init__(
        self,
        size: int,
        monitor: Monitor,
        clock: Callable[[], float] = time.monotonic,
        watchdog_interval: float | None = None,
    ) -> None:
        self.jobs = JobsQueue()
        self.monitor = monitor
        self._clock = clock
        #: Reports jobs running longer than ``watchdog_interval`` (None: no watchdog).
        self.watchdog = (
            None
            if watchdog_interval is None
            else Watchdog(watchdog_interval, monitor, [self.running], clock)
        )
        self._size = size
        self._names = itertools.count(1)
        # Guards _workers and _size.
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._started = False
        self._stopping = False
        self.jobs.worker_waiting = self.worker_waiting

    def __repr__(self) -> str:
        return f"WorkerPool(size={self._size}, alive={len(self._workers)})"

    @property
    def size(self) -> int:
        return self._size

    def start(self) -> None:
        with self._lock:
            self._started = True
            for _ in range(self._size):
                self._spawn_locked()
        if self.watchdog is not None:
            self.watchdog.start()

    def watch(self, source: Source) -> None:
        """Let the watchdog watch the jobs ``source`` lists too (before :meth:`start`), e.g.
        the coroutines of async consumers, which run on no worker."""
        if self.watchdog is not None:
            self.watchdog.add_source(source)

    def scale(self, size: int) -> None:
        """Grow or shrink the pool to ``size`` threads (at least 1); safe at any time."""
        from parafka.errors import ConfigurationError

        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigurationError(f"workers.scale(size) needs an integer >= 1, got {size!r}")
        with self._lock:
            if self._stopping:
                return
            delta = size - self._size
            self._size = size
            if not self._started:
                return
            for _ in range(max(delta, 0)):
                self._spawn_locked()
        for _ in range(max(-delta, 0)):
            self.jobs.stop_one()
        self.monitor.publish("workers.scaled", size=size, change=delta)

    def worker_waiting(self) -> bool:
        """True when some worker runs no job (any thread; a racy snapshot, without the lock:
        it runs once per listener fetch)."""
        return any(worker.current is None for worker in self._workers)

    def busy(self) -> list[Busy]:
        """What every busy worker is running right now."""
        now = self._clock()
        result = []
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            job = worker.current
            if job is not None:
                started = job.started_at if job.started_at is not None else now
                result.append(Busy(worker.name, job.describe(), now - started))
        return result

    def running(self) -> list[Running]:
        """The jobs the workers run now (any thread; a snapshot), for the watchdog."""
        with self._lock:
            workers = list(self._workers)
        result = []
        for worker in workers:
            job = worker.current
            if job is not None and job.started_at is not None:
                stack = functools.partial(worker.stack, job)
                result.append(Running(job, worker.name, job.started_at, stack))
        return result

    def stop(self, timeout: float) -> bool:
        """Ask every worker to exit after its current job; True if all did within ``timeout``."""
        if self.watchdog is not None:
            self.watchdog.stop()
        with self._lock:
            self._stopping = True
            workers = list(self._workers)
        for _ in workers:
            self.jobs.stop_one()
        deadline = self._clock() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - self._clock()))
        return not any(worker.is_alive() for worker in workers)

    def retire(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)

    def _spawn_locked(self) -> None:
        worker = _Worker(self, f"parafka-worker-{next(self._names)}")
        self._workers.append(worker)
        worker.start()
