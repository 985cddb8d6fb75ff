"""The watchdog reports a job running past ``watchdog_interval`` once per interval, with its
stack, driven here by a fake clock (no thread of its own, no sleeping)."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest

import parafka
from parafka.instrumentation import Event, LoggingSubscriber, Monitor
from parafka.processing.jobs import ConsumeJob, Job
from parafka.processing.watchdog import Running, Watchdog, coroutine_stack
from parafka.processing.workers import WorkerPool

BOOT = {"bootstrap.servers": "127.0.0.1:1"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def coordinator(topic: str = "orders", partition: int = 3) -> Any:
    return SimpleNamespace(group_id="g", topic=topic, partition=partition, virtual=False)


def consume_job(first: int = 10, last: int = 19) -> ConsumeJob:
    return ConsumeJob(coordinator(), 0, [], first, last, attempt=0)


def recorded(monitor: Monitor) -> list[Event]:
    events: list[Event] = []
    monitor.subscribe("worker.slow", events.append)
    return events


def test_a_long_job_is_reported_once_per_interval_with_its_stack() -> None:
    clock, monitor = Clock(), Monitor()
    events = recorded(monitor)
    job = consume_job()
    running = [Running(job, "parafka-worker-1", clock.now, lambda: "  File x, in consume\n")]
    watchdog = Watchdog(2.0, monitor, [lambda: running], clock)

    clock.now += 1.5
    assert watchdog.check() == pytest.approx(0.5)  # the next check is when 1x is due
    assert events == []
    clock.now += 0.5
    assert watchdog.check() == pytest.approx(2.0)
    (first,) = events
    assert first.payload == {
        "job": "g/orders/3 offsets 10..19 (0 messages, attempt 1)",
        "topic": "orders",
        "partition": 3,
        "lane": 0,
        "first_offset": 10,
        "last_offset": 19,
        "running": pytest.approx(2.0),
        "intervals": 1,
        "interval": 2.0,
        "worker": "parafka-worker-1",
        "stack": "  File x, in consume\n",
    }
    clock.now += 1.9
    watchdog.check()
    assert len(events) == 1  # not again before 2x
    clock.now += 0.1
    watchdog.check()
    assert [e["intervals"] for e in events] == [1, 2]
    clock.now += 7.0  # 11 s: 3x, 4x and 5x passed while the watchdog slept: one report
    assert watchdog.check() == pytest.approx(1.0)
    assert [e["intervals"] for e in events] == [1, 2, 5]


def test_a_job_that_finished_while_looked_at_is_not_reported() -> None:
    clock, monitor = Clock(), Monitor()
    events = recorded(monitor)
    running = [Running(consume_job(), "parafka-worker-1", clock.now, lambda: None)]
    watchdog = Watchdog(1.0, monitor, [lambda: running], clock)
    clock.now += 1.0
    watchdog.check()
    assert events == []


def test_a_new_job_is_reported_afresh_and_finished_ones_are_forgotten() -> None:
    clock, monitor = Clock(), Monitor()
    events = recorded(monitor)
    running: list[Running] = []
    watchdog = Watchdog(1.0, monitor, [lambda: running], clock)
    assert watchdog.check() == 1.0  # nothing runs: look again after one interval
    first = consume_job(0, 0)
    running.append(Running(first, "parafka-worker-1", clock.now, lambda: "a"))
    clock.now += 1.0
    watchdog.check()
    running[:] = [Running(consume_job(1, 1), "parafka-worker-1", clock.now, lambda: "b")]
    clock.now += 1.0
    watchdog.check()
    assert [(e["first_offset"], e["stack"]) for e in events] == [(0, "a"), (1, "b")]
    assert [job for job, _ in watchdog._reported] == [running[0].job]


def test_hooks_are_reported_without_offsets() -> None:
    clock, monitor = Clock(), Monitor()
    events = recorded(monitor)

    class Hook(Job):
        def describe(self) -> str:
            return "g/orders/3 revoked() hook"

    running = [Running(Hook(coordinator(), 0), "parafka-worker-2", clock.now, lambda: "s")]
    watchdog = Watchdog(1.0, monitor, [lambda: running], clock)
    clock.now += 1.0
    watchdog.check()
    (event,) = events
    assert (event["job"], event["first_offset"], event["last_offset"]) == (
        "g/orders/3 revoked() hook",
        None,
        None,
    )


class Blocking(Job):
    """A job that waits on ``release``, inside a function the stack must name."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(coordinator(), 0)
        self.clock = clock
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()

    def describe(self) -> str:
        return "blocking"

    def run(self) -> list[Job]:
        self.started_at = self.clock()
        self.entered.set()
        blocking_consume_for_watchdog(self.release)
        self.done.set()
        return []


def blocking_consume_for_watchdog(release: threading.Event) -> None:
    assert release.wait(30), "the test never released the job"


def test_the_stack_is_the_worker_threads_while_it_runs_the_job() -> None:
    clock, monitor = Clock(), Monitor()
    events = recorded(monitor)
    pool = WorkerPool(1, monitor, clock)  # no watchdog thread: this test drives one
    watchdog = Watchdog(5.0, monitor, [pool.running], clock)
    pool.start()
    job = Blocking(clock)
    try:
        pool.jobs.put(job)
        assert job.entered.wait(10)
        clock.now += 5.0
        watchdog.check()
    finally:
        job.release.set()
        assert job.done.wait(10)
        pool.stop(10)
    (event,) = events
    assert event["worker"] == "parafka-worker-1"
    assert "in blocking_consume_for_watchdog" in event["stack"]
    assert "release.wait(30)" in event["stack"]


def test_the_logging_subscriber_logs_a_slow_job_at_warning_with_its_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, monitor = Clock(), Monitor()
    monitor.subscribe("*", LoggingSubscriber())
    running = [Running(consume_job(), "parafka-worker-1", clock.now, lambda: "  File y\n")]
    watchdog = Watchdog(60.0, monitor, [lambda: running], clock)
    clock.now += 61.0
    with caplog.at_level(logging.WARNING, logger="parafka"):
        watchdog.check()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "worker.slow: g/orders/3 offsets 10..19 (0 messages, attempt 1) on parafka-worker-1 "
        "has run for 61.0 s (watchdog_interval 60 s); stack:\n  File y\n"
    )


def test_a_suspended_coroutines_stack_follows_what_it_awaits() -> None:
    async def inner_awaiting() -> None:
        await asyncio.sleep(0)

    async def outer_consume() -> None:
        await inner_awaiting()

    coroutine = outer_consume()
    coroutine.send(None)  # runs up to the sleep, then is suspended
    try:
        stack = coroutine_stack(coroutine)
    finally:
        coroutine.close()
    assert stack is not None
    assert stack.index("in outer_consume") < stack.index("in inner_awaiting")
    assert coroutine_stack(coroutine) is None  # finished


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "watchdog_interval must be > 0"),
        (-1.0, "watchdog_interval must be > 0"),
        (float("inf"), "watchdog_interval must be a number of seconds"),
        ("60", "watchdog_interval must be a number of seconds, or None to turn the watchdog off"),
        (True, "or None to turn the watchdog off"),
    ],
)
def test_bad_watchdog_intervals_are_refused(value: object, message: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as info:
        parafka.App(kafka=BOOT, watchdog_interval=value)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_the_watchdog_is_on_by_default_and_none_turns_it_off() -> None:
    on = parafka.App(kafka=BOOT)
    assert on.settings.watchdog_interval == 60.0
    assert on.workers.watchdog is not None
    assert on.workers.watchdog.interval == 60.0
    off = parafka.App(kafka=BOOT, watchdog_interval=None)
    assert off.workers.watchdog is None
