"""The watchdog: jobs that run longer than ``watchdog_interval`` are reported with their stack.

Threads: one supervisor thread (``parafka-watchdog``, started and stopped by the
:class:`~parafka.processing.workers.WorkerPool`) calls :meth:`Watchdog.check` in a loop; only
that thread touches ``_reported``. The sources it reads (the pool's workers, the event loop's
coroutines) are snapshots of state other threads write: a stack is kept only if the job was
still running after it was taken. It never interrupts a job: it publishes ``worker.slow`` (the
``LoggingSubscriber`` logs it at WARNING with the stack) once per interval the job has run, at
1x, 2x, 3x ... the interval, and the app goes on.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from parafka.instrumentation import Monitor
from parafka.processing.jobs import ConsumeJob, Job

__all__ = ["Running", "Watchdog", "coroutine_stack"]

#: Waits shorter than this are rounded up (float fuzz must not make the loop spin).
_MIN_WAIT = 0.001


@dataclass(frozen=True)
class Running:
    """A job running now: the thread it runs on and how to see where it is."""

    job: Job
    thread: str
    started_at: float
    #: The job's stack as text, taken now; None if the job has finished meanwhile.
    stack: Callable[[], str | None]


Source = Callable[[], list[Running]]


class Watchdog:
    """Reports every job of its ``sources`` that has run ``interval`` seconds, once per interval.

    ``clock`` must be the clock jobs take ``started_at`` from (``time.monotonic``); tests pass
    a fake one and drive :meth:`check` themselves, without starting the thread.
    """

    def __init__(
        self,
        interval: float,
        monitor: Monitor,
        sources: list[Source],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._monitor = monitor
        self._sources = sources  # appended to before start() only
        self._clock = clock
        # (job, started_at) -> intervals reported so far. Watchdog thread only.
        self._reported: dict[tuple[Job, float], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="parafka-watchdog", daemon=True)

    def add_source(self, source: Source) -> None:
        """Watch the jobs ``source`` lists too (before :meth:`start`)."""
        self._sources.append(source)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread (any thread; returns within ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self) -> float:
        """Report what is due now; return the seconds until the next report could be due."""
        now = self._clock()
        running = [entry for source in self._sources for entry in source()]
        seen: set[tuple[Job, float]] = set()
        wait = self.interval
        for entry in running:
            key = (entry.job, entry.started_at)
            seen.add(key)
            took = now - entry.started_at
            due = int(took // self.interval)
            reported = self._reported.get(key, 0)
            if due > reported and self._report(entry, took, due):
                reported = self._reported[key] = due
            next_due = entry.started_at + (reported + 1) * self.interval
            wait = min(wait, next_due - now)
        for key in [key for key in self._reported if key not in seen]:
            del self._reported[key]  # finished
        return max(wait, _MIN_WAIT)

    def _report(self, entry: Running, took: float, intervals: int) -> bool:
        stack = entry.stack()
        job = entry.job
        if stack is None:
            return False  # finished while we looked
        coordinator = job.coordinator
        consume = job if isinstance(job, ConsumeJob) else None
        self._monitor.publish(
            "worker.slow",
            job=job.describe(),
            topic=coordinator.topic,
            partition=coordinator.partition,
            lane=job.lane,
            first_offset=consume.first_offset if consume else None,
            last_offset=consume.last_offset if consume else None,
            running=took,
            intervals=intervals,
            interval=self.interval,
            worker=entry.thread,
            stack=stack,
        )
        return True

    def _serve(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            try:
                wait = self.check()
            except Exception as exc:  # a parafka bug; the watchdog must not die of it
                self._monitor.publish("error.occurred", type="watchdog.check", error=exc)
                wait = self.interval


def coroutine_stack(coroutine: Any) -> str | None:
    """Where a suspended coroutine waits: its frame and those of what it awaits, outermost
    first (a coroutine's frame has no ``f_back`` while suspended, so this follows
    ``cr_await``). None once it has finished."""
    frames: list[tuple[FrameType, int]] = []
    current = coroutine
    while current is not None and len(frames) < 100:
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None)
    if not frames:
        return None
    return "".join(traceback.StackSummary.extract(iter(frames)).format())
