"""The per-partition coordinator's rules, driven directly (no threads, no broker)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import parafka
from parafka.config import Settings
from parafka.instrumentation import Event, Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, HookJob, Job
from parafka.routing import Route

from .fakes import messages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Calls(parafka.Consumer):
    log: ClassVar[list[tuple[str, Any]]] = []
    fail_offsets: ClassVar[set[int]] = set()

    def initialized(self) -> None:
        Calls.log.append(("initialized", self.partition))

    def consume(self, messages: parafka.Messages) -> None:
        Calls.log.append(("consume", [m.offset for m in messages]))
        for message in messages:
            if message.offset in Calls.fail_offsets:
                raise ValueError(f"bad {message.offset}")

    def revoked(self) -> None:
        Calls.log.append(("revoked", self.partition))

    def shutdown(self) -> None:
        Calls.log.append(("shutdown", self.partition))


class Marking(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        self.mark_as_consumed(messages[1])


@pytest.fixture(autouse=True)
def _reset() -> None:
    Calls.log = []
    Calls.fail_offsets = set()


def one(jobs: list[Job]) -> Job:
    assert len(jobs) == 1, jobs
    return jobs[0]


def batch(jobs: list[Job]) -> ConsumeJob:
    job = one(jobs)
    assert isinstance(job, ConsumeJob)
    return job


def coordinator(
    consumer: type[parafka.Consumer] = Calls,
    manual: bool = False,
    clock: Clock | None = None,
    events: list[Event] | None = None,
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=consumer,
        group_id="g",
        subscription_group="default",
        manual_offset_management=manual,
    )
    monitor = Monitor()
    if events is not None:
        monitor.subscribe("*", events.append)
    settings = Settings(max_messages=3, pause_timeout=1.0, pause_max_timeout=4.0)
    return Coordinator(
        route,
        0,
        settings,
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock or Clock(),
    )


def test_one_batch_in_flight_and_the_next_comes_from_the_backlog() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 4)))
    assert (job.first_offset, job.last_offset) == (0, 2)
    assert c.fetched(messages(5, 6)) == []  # busy: kept in the backlog
    assert c.backlog_size == 4
    assert c.committable() == 0
    next_job = batch(job.run())
    assert (next_job.first_offset, next_job.last_offset) == (3, 5)
    assert c.committable() == 3
    assert Calls.log[:2] == [("initialized", 0), ("consume", [0, 1, 2])]


def test_a_failed_batch_is_retried_in_order_after_an_exponential_back_off() -> None:
    clock = Clock()
    events: list[Event] = []
    c = coordinator(clock=clock, events=events)
    Calls.fail_offsets = {1}
    job = batch(c.fetched(messages(0, 2)))
    assert job.run() == []  # failed: nothing before the back-off ends
    assert c.committable() == 0
    assert c.due() == []
    clock.now += 1.0
    retry = batch(c.due())
    assert (retry.first_offset, retry.attempt) == (0, 1)
    assert retry.run() == []
    clock.now += 1.5
    assert c.due() == []  # second back-off is 2 s
    clock.now += 0.5
    retry = batch(c.due())
    Calls.fail_offsets = set()
    retry.run()
    assert c.committable() == 3
    retries = [e for e in events if e.name == "consumer.retry"]
    assert [e["backoff"] for e in retries] == [1.0, 2.0]
    assert [call for call in Calls.log if call[0] == "consume"] == [("consume", [0, 1, 2])] * 3


def test_manual_marking_commits_only_what_was_marked() -> None:
    c = coordinator(consumer=Marking, manual=True)
    batch(c.fetched(messages(10, 12))).run()
    assert c.committable() == 12


def test_marking_outside_the_batch_is_refused() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 2)))
    with pytest.raises(ValueError, match="not in the batch"):
        c.mark(job, 7)


def test_after_revoke_a_late_batch_moves_no_offset_and_revoked_runs_after_it() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 5)))
    point, hooks = c.revoke()
    assert point == (0, "")
    assert hooks == []  # the batch is still running
    assert c.committable() is None
    after = one(job.run())
    assert isinstance(after, HookJob)
    assert after.hook == "revoked"
    assert after.run() == []
    assert Calls.log[-2:] == [("consume", [0, 1, 2]), ("revoked", 0)]
    assert c.idle
    assert c.fetched(messages(6, 7)) == []  # nothing new for a revoked partition


def test_close_stops_new_batches_and_runs_shutdown_once() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 5)))
    assert c.close() == []
    hook = one(job.run())
    assert isinstance(hook, HookJob)
    assert hook.hook == "shutdown"
    hook.run()
    assert c.committable() == 3
    point, again = c.revoke()  # the client's close revokes everything afterwards
    assert (point, again) == ((3, ""), [])
    assert [name for name, _ in Calls.log].count("shutdown") == 1
    assert "revoked" not in [name for name, _ in Calls.log]


def test_a_consumer_whose_initialized_raises_retries_without_losing_offsets() -> None:
    class Broken(parafka.Consumer):
        def initialized(self) -> None:
            raise RuntimeError("cannot connect")

        def consume(self, messages: parafka.Messages) -> None:
            pass

    events: list[Event] = []
    c = coordinator(consumer=Broken, events=events)
    assert batch(c.fetched(messages(0, 1))).run() == []
    assert c.committable() == 0
    assert any(e.name == "error.occurred" and e["type"] == "consumer.consume" for e in events)
