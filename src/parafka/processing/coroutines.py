"""``async def consume``: one event loop thread runs the coroutines of async consumers.

Threads: a worker creates the consumer instance and calls :meth:`CoroutineRunner.submit`, which
returns at once (the worker is free again); the loop thread (``parafka-asyncio``) awaits
``consume()`` and reports to the job's coordinator, then queues the partition's next jobs. A lane
still has one job in flight (its coroutine), so order and offsets work as for threads, while many
partitions and lanes await their IO at the same time on one thread. The watchdog thread reads
which coroutines run (:meth:`CoroutineRunner.running`) and where they wait.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from parafka.processing.watchdog import Running, coroutine_stack

if TYPE_CHECKING:
    from parafka.consumer import Consumer
    from parafka.messages import Messages
    from parafka.processing.jobs import ConsumeJob
    from parafka.processing.workers import JobsQueue

__all__ = ["CoroutineRunner"]


class CoroutineRunner:
    """The event loop thread shared by every async consumer of an app."""

    def __init__(self, jobs: JobsQueue) -> None:
        self._jobs = jobs
        # Guards _running: written on the loop thread, read by the watchdog thread.
        self._lock = threading.Lock()
        self._running: dict[ConsumeJob, Coroutine[Any, Any, None]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="parafka-asyncio", daemon=True)
        self._thread.start()

    def submit(self, job: ConsumeJob, consumer: Consumer, batch: Messages) -> None:
        """Start ``consumer.consume(batch)`` on the loop (any thread; returns at once)."""
        asyncio.run_coroutine_threadsafe(self._run(job, consumer, batch), self._loop)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the loop; coroutines still awaiting are abandoned (they hung past shutdown)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

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
            self._jobs.put(ready)

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # Coroutines still awaiting hung past the shutdown: cancel them (bounded), close.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            loop.close()
