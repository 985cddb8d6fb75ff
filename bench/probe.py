"""Run a ``parafka.App`` over one topic and time it through its own instrumentation events.

``Progress`` is subscribed to ``listener.polled`` (published on the listener thread) and
``worker.processed`` (published on the worker threads); ``_lock`` guards every field it writes.
The main thread only waits on ``Progress.done`` and reads the fields after the app stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import parafka
from bench.kafka import unique

__all__ = ["AppRun", "Progress", "run_app"]


class Progress:
    """Counts processed messages and records when processing began and ended."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.done = threading.Event()  # set once `processed` reaches `target`
        self._lock = threading.Lock()
        # guarded by _lock:
        self.processed = 0
        self.first_polled: float | None = None  # first fetch that returned messages
        self.first_started: float | None = None  # earliest start of a processed batch
        self.reached: float | None = None  # when `processed` reached `target`
        self.last_processed: float | None = None

    def on_polled(self, event: parafka.Event) -> None:
        now = time.monotonic()
        if event.payload["messages"] > 0:
            with self._lock:
                if self.first_polled is None:
                    self.first_polled = now

    def on_processed(self, event: parafka.Event) -> None:
        now = time.monotonic()
        began = now - event.payload["took"]
        with self._lock:
            self.processed += event.payload["messages"]
            self.last_processed = now
            if self.first_started is None or began < self.first_started:
                self.first_started = began
            if self.reached is None and self.processed >= self.target:
                self.reached = now
                self.done.set()

    def result(self, started: float, clean_stop: bool, stop_seconds: float) -> AppRun:
        """What was recorded, once ``done`` is set (after the app stopped: nothing changes)."""
        with self._lock:
            first_polled, first_started = self.first_polled, self.first_started
            reached, last = self.reached, self.last_processed
            if first_polled is None or first_started is None or reached is None or last is None:
                raise RuntimeError("result() before every expected message was processed")
            return AppRun(
                started=started,
                first_polled=first_polled,
                first_started=first_started,
                reached=reached,
                last_processed=last,
                processed=self.processed,
                clean_stop=clean_stop,
                stop_seconds=stop_seconds,
            )


@dataclass(frozen=True)
class AppRun:
    """One app run: monotonic timestamps (seconds) and what was processed."""

    started: float  # app.start() called (before the group join)
    first_polled: float
    first_started: float
    reached: float
    last_processed: float
    processed: int  # after app.stop(): more than the target means duplicates
    clean_stop: bool
    stop_seconds: float


def run_app(
    bootstrap: str,
    topic: str,
    consumer: type[parafka.Consumer],
    *,
    expected: int,
    concurrency: int,
    max_messages: int,
    kafka: Mapping[str, Any] | None = None,
    timeout: float = 600.0,
) -> AppRun:
    """Process ``topic`` from the beginning with a fresh group until ``expected`` are done."""
    app = parafka.App(
        kafka={"bootstrap.servers": bootstrap, **(kafka or {})},
        group_id=unique("group"),
        concurrency=concurrency,
        max_messages=max_messages,
        log_events=False,
    )
    app.topic(topic, consumer, deserializer=parafka.raw_deserializer)
    progress = Progress(expected)
    app.monitor.subscribe("listener.polled", progress.on_polled)
    app.monitor.subscribe("worker.processed", progress.on_processed)
    started = time.monotonic()
    deadline = started + timeout
    app.start()
    try:
        while not progress.done.wait(0.25):
            if app.critical_error is not None:
                raise RuntimeError(f"the app failed: {app.critical_error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"processed {progress.processed} of {expected} messages of {topic} "
                    f"in {timeout:.0f} s"
                )
    finally:
        stopping = time.monotonic()
        clean = app.stop()
        stop_seconds = time.monotonic() - stopping
    return progress.result(started, clean, stop_seconds)
