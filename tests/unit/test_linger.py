"""A poll lingers for more messages only while every worker is busy."""

from __future__ import annotations

import threading
from typing import Any

from parafka.connection.fetch import LINGER, poll_batch
from parafka.instrumentation import Monitor
from parafka.processing.workers import JobsQueue, WorkerPool


class Client:
    """Answers poll() with one message and records consume()'s timeout."""

    def __init__(self, first: object | None = "m0") -> None:
        self.first = first
        self.lingered: list[float] = []

    def poll(self, timeout: float) -> Any:
        return self.first

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.lingered.append(timeout)
        return ["m1", "m2"][:num_messages]


def test_the_poll_lingers_while_the_workers_are_busy_and_not_while_one_waits() -> None:
    client: Any = Client()
    assert poll_batch(client, 0.05, 3, busy=lambda: True) == ["m0", "m1", "m2"]
    assert poll_batch(client, 0.05, 3, busy=lambda: False) == ["m0", "m1", "m2"]
    assert poll_batch(client, 0.05, 2) == ["m0", "m1"]
    assert client.lingered == [LINGER, 0.0, LINGER]  # without a busy signal: linger
    idle: Any = Client(first=None)
    assert poll_batch(idle, 0.05, 3, busy=lambda: False) == []


class Blocking:
    """A job that holds its worker until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.started_at: float | None = None

    def run(self) -> list[Any]:
        self.started.set()
        self.release.wait(10)
        return []

    def describe(self) -> str:
        return "blocking"


def test_a_queued_job_means_busy_even_with_a_worker_waiting() -> None:
    jobs = JobsQueue()
    assert jobs.all_busy()  # no pool serves it: a job put now would wait
    jobs.worker_waiting = lambda: True
    assert not jobs.all_busy()
    jobs.put(Blocking())  # type: ignore[arg-type]
    assert jobs.all_busy()


def test_all_busy_follows_the_pool_and_an_async_runner() -> None:
    pool = WorkerPool(1, Monitor())
    assert pool.jobs.all_busy()  # not started: no worker waits
    pool.start()
    try:
        job, queued = Blocking(), Blocking()
        pool.jobs.put(job)  # type: ignore[arg-type]
        assert job.started.wait(5)
        assert pool.jobs.all_busy()  # its one worker runs a job
        job.release.set()
        pool.jobs.put(queued)  # type: ignore[arg-type]
        assert queued.started.wait(5)
        queued.release.set()
        for _ in range(500):  # the worker goes back to waiting
            if not pool.jobs.all_busy():
                break
            threading.Event().wait(0.01)
        assert not pool.jobs.all_busy()
        assert pool.worker_waiting()
        pool.jobs.runner = object()  # type: ignore[assignment]
        assert not pool.jobs.all_busy()  # async batches start on the loop at once
    finally:
        pool.jobs.runner = None
        pool.stop(5)
