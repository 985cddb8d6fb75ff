"""``max_wait_time``: how long an idle lane's partial batch may wait to fill (fake clock).

0 (the default) hands every batch out at once; above 0 a batch leaves when it holds
``max_messages`` or when its oldest message has been queued ``max_wait_time``.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

import parafka
from parafka.config import Settings
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, Job
from parafka.processing.virtual import VirtualPartitions
from parafka.routing import Route

from .fakes import messages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Batches(parafka.Consumer):
    fail: ClassVar[bool] = False

    def consume(self, messages: parafka.Messages) -> None:
        if Batches.fail:
            raise ValueError("fails once")


@pytest.fixture(autouse=True)
def _reset() -> None:
    Batches.fail = False


def coordinator(
    clock: Clock, max_wait_time: float, virtual: VirtualPartitions | None = None
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=Batches,
        group_id="g",
        subscription_group="default",
        virtual_partitions=virtual,
    )
    settings = Settings(
        max_messages=3, max_wait_time=max_wait_time, pause_timeout=1.0, pause_max_timeout=4.0
    )
    return Coordinator(
        route,
        0,
        settings,
        Monitor(),
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock,
    )


def offsets(jobs: list[Job]) -> list[list[int]]:
    found = []
    for job in jobs:
        assert isinstance(job, ConsumeJob)
        found.append([m.offset() for m in job.messages])
    return found


def test_by_default_a_partial_batch_leaves_at_once() -> None:
    c = coordinator(Clock(), max_wait_time=0.0)
    assert offsets(c.fetched(messages(0, 0))) == [[0]]


def test_a_partial_batch_waits_max_wait_time_for_more_messages() -> None:
    clock = Clock()
    c = coordinator(clock, max_wait_time=1.0)
    assert c.fetched(messages(0, 0)) == []
    clock.now += 0.5
    assert c.fetched(messages(1, 1)) == []
    clock.now += 0.49
    assert c.due() == []
    clock.now += 0.01  # the oldest message has waited 1.0 s: the batch leaves as it is
    assert offsets(c.due()) == [[0, 1]]


def test_a_full_batch_leaves_without_waiting() -> None:
    clock = Clock()
    c = coordinator(clock, max_wait_time=1.0)
    assert c.fetched(messages(0, 1)) == []
    assert offsets(c.fetched(messages(2, 4))) == [[0, 1, 2]]
    # the rest is partial again and waits from when it was queued, not from now
    assert c.due() == []


def test_messages_queued_behind_a_running_batch_do_not_wait_again() -> None:
    clock = Clock()
    c = coordinator(clock, max_wait_time=1.0)
    (job,) = c.fetched(messages(0, 2))
    assert c.fetched(messages(3, 3)) == []  # busy: queued
    clock.now += 1.0  # the batch ran for a second; offset 3 has waited as long
    assert offsets(job.run()) == [[3]]


def test_the_wait_starts_again_for_the_next_partial_batch() -> None:
    clock = Clock()
    c = coordinator(clock, max_wait_time=1.0)
    (job,) = c.fetched(messages(0, 2))
    assert job.run() == []  # nothing queued
    clock.now += 5.0
    assert c.fetched(messages(3, 3)) == []  # queued now: waits a full max_wait_time
    clock.now += 0.5
    assert c.due() == []
    clock.now += 0.5
    assert offsets(c.due()) == [[3]]


def test_a_retry_does_not_wait_to_fill() -> None:
    clock = Clock()
    c = coordinator(clock, max_wait_time=10.0)
    (job,) = c.fetched(messages(0, 2))
    Batches.fail = True
    assert job.run() == []  # failed: backs off pause_timeout (1 s), then retries
    Batches.fail = False
    clock.now += 1.0
    retry = c.due()
    assert offsets(retry) == [[0]]  # isolating the failure: one at a time, no filling wait


def test_each_virtual_lane_fills_on_its_own() -> None:
    clock = Clock()
    c = coordinator(
        clock,
        max_wait_time=1.0,
        virtual=VirtualPartitions(partitioner=lambda message: message.offset % 2, max_partitions=2),
    )
    (full,) = c.fetched(messages(0, 4))  # even offsets fill lane 0; odd ones wait in lane 1
    assert isinstance(full, ConsumeJob)
    assert (full.lane, [m.offset() for m in full.messages]) == (0, [0, 2, 4])
    clock.now += 0.99
    assert c.due() == []
    clock.now += 0.01
    (partial,) = c.due()
    assert isinstance(partial, ConsumeJob)
    assert (partial.lane, [m.offset() for m in partial.messages]) == (1, [1, 3])
