"""A hypothesis state machine over the coordinator on a production-like partition.

The partition is a log with holes (transaction markers, aborted records, compaction) and a
trailing hole after its last message. The machine plays the listener (fetches from a position,
pauses and seeks when the consumer asks, follows the client's position, revokes and assigns the
partition again while old batches still run, drives revoked coordinators) and the workers (runs
ready jobs in any order; a batch may fail part way, pause or seek back). With and without
virtual partitions, with a partitioner that sometimes fails.

Safety, after every step: the commit point never passes a delivered offset that was not
processed; each key's first processing is in offset order; metadata never claims unprocessed
offsets. Liveness, at the end: once failures stop, every message is processed, the commit point
reaches the end of the log, no lane idles with work queued and every revoked coordinator (and
its hooks) finished.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import parafka
from parafka.config import Settings
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, HookJob, Job
from parafka.processing.progress import decode
from parafka.routing import Route

from .fakes import FakeMessage

KEYS = [b"a", b"b", b"c", None]


class Worker(parafka.Consumer):
    """Processes messages in order; plans (set by the machine) make it fail, pause or seek."""

    done: ClassVar[list[tuple[int, bytes | None]]] = []
    fail_at: ClassVar[set[int]] = set()
    pause_at: ClassVar[dict[int, int]] = {}  # offset -> offset to pause/seek to
    unkeyed: ClassVar[set[int]] = set()  # offsets the partitioner fails on
    hooks: ClassVar[list[str]] = []

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            if message.offset in Worker.fail_at:
                Worker.fail_at.discard(message.offset)
                raise RuntimeError(f"planned failure at {message.offset}")
            if message.offset in Worker.pause_at:
                self.pause(Worker.pause_at.pop(message.offset), timeout=1.0)
                return
            Worker.done.append((message.offset, message.key))

    def revoked(self) -> None:
        Worker.hooks.append("revoked")


def partitioner(message: parafka.Message) -> Any:
    if message.offset in Worker.unkeyed:
        raise ValueError("no key")
    return message.key


class Partition(RuleBasedStateMachine):
    virtual: ClassVar[bool] = False
    distribution: ClassVar[str] = "consistent"
    max_wait_time: ClassVar[float] = 0.0

    def __init__(self) -> None:
        super().__init__()
        Worker.done, Worker.fail_at, Worker.pause_at = [], set(), {}
        Worker.unkeyed, Worker.hooks = set(), []
        self.now = 0.0
        self.ready: list[Job] = []
        self.retired: list[Coordinator] = []
        self.delivered: set[int] = set()
        self.floor = -1  # the committed offset: the commit point may not go below it
        self.log: list[tuple[int, bytes | None]] = []
        self.end = 0
        self.position = 0  # the next offset the "client" fetches
        self.coordinator = self.new_coordinator(None)

    def new_coordinator(self, predecessor: Coordinator | None) -> Coordinator:
        vp = (
            parafka.VirtualPartitions(
                partitioner=partitioner,
                max_partitions=3,
                distribution=self.distribution,  # type: ignore[arg-type]
            )
            if self.virtual
            else None
        )
        route = Route(
            topic="t",
            consumer=Worker,
            group_id="g",
            subscription_group="default",
            virtual_partitions=vp,
            dead_letter_queue=None,
        )
        return Coordinator(
            route,
            0,
            Settings(
                concurrency=3,
                max_messages=3,
                max_wait_time=self.max_wait_time,
                pause_timeout=1.0,
                pause_max_timeout=2.0,
            ),
            Monitor(),
            notify=lambda _c: None,
            on_critical=lambda exc: (_ for _ in ()).throw(AssertionError(f"critical {exc!r}")),
            predecessor=predecessor,
            clock=lambda: self.now,
        )

    @initialize(
        gaps=st.lists(st.integers(0, 3), min_size=5, max_size=40),
        keys=st.lists(st.sampled_from(KEYS), min_size=40, max_size=40),
        tail=st.integers(0, 3),
    )
    def write_log(self, gaps: list[int], keys: list[bytes | None], tail: int) -> None:
        offset = -1
        for gap, key in zip(gaps, keys, strict=False):
            offset += gap + 1
            self.log.append((offset, key))
        self.end = offset + 1 + tail

    # -- the listener ------------------------------------------------------------------------

    @rule(count=st.integers(1, 6))
    def fetch(self, count: int) -> None:
        if self.coordinator.seeking:
            return  # the listener keeps a pausing partition paused
        batch = [(o, k) for o, k in self.log if o >= self.position][:count]
        if not batch:
            return
        self.position = batch[-1][0] + 1
        self.delivered.update(o for o, _ in batch)
        messages = [FakeMessage(o, key=k) for o, k in batch]
        self.ready.extend(self.coordinator.fetched(messages))

    @rule()
    def follow_the_position(self) -> None:
        if not [o for o, _ in self.log if o >= self.position]:
            self.position = self.end  # librdkafka moves past the trailing markers
        if self.coordinator.backlog_size == 0:
            self.coordinator.advance(self.position)

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0]))
    def sweep(self, seconds: float) -> None:
        self.now += seconds
        coordinator = self.coordinator
        if coordinator.seeking:
            target = coordinator.seek_due()
            if target is not None:
                self.position = target
                self.ready.extend(coordinator.sought())
        self.ready.extend(coordinator.due())
        for old in self.retired:
            self.ready.extend(old.due())
        self.retired = [old for old in self.retired if not old.idle]

    @rule()
    def rebalance(self) -> None:
        """Revoke and assign again at once (two quick rebalances), old batches still running."""
        point, jobs = self.coordinator.revoke()
        self.ready.extend(jobs)
        if point is not None:
            self.check_point(point)
            self.floor = point[0]
            self.position = point[0]
        else:
            self.position = max(self.floor, 0)
        self.retired.append(self.coordinator)
        self.coordinator = self.new_coordinator(self.retired[-1])

    # -- the workers -------------------------------------------------------------------------

    @precondition(lambda self: self.ready)
    @rule(index=st.integers(0, 100))
    def run_a_job(self, index: int) -> None:
        self.ready.extend(self.ready.pop(index % len(self.ready)).run())

    @rule(data=st.data())
    def plan_trouble(self, data: st.DataObject) -> None:
        offsets = [o for o, _ in self.log]
        offset = data.draw(st.sampled_from(offsets))
        kind = data.draw(st.sampled_from(["fail", "pause", "seek_back", "unkeyed"]))
        if kind == "fail":
            Worker.fail_at.add(offset)
        elif kind == "pause":
            Worker.pause_at[offset] = offset
        elif kind == "seek_back":
            Worker.pause_at[offset] = max(0, offset - data.draw(st.integers(1, 6)))
        elif self.virtual and offset >= self.position:
            Worker.unkeyed.add(offset)

    # -- safety ------------------------------------------------------------------------------

    def processed(self) -> set[int]:
        return {o for o, _ in Worker.done}

    def check_point(self, point: tuple[int, str]) -> None:
        offset, metadata = point
        unprocessed = {o for o in self.delivered if o < offset} - self.processed()
        assert not unprocessed, f"commit {offset} passes unprocessed {sorted(unprocessed)[:5]}"
        for start, stop in decode(offset, metadata).finished:
            claimed = set(range(start, stop + 1)) & self.delivered
            assert claimed <= self.processed(), "metadata claims unprocessed offsets"

    @invariant()
    def commit_point_is_safe(self) -> None:
        point = self.coordinator.commit_point()
        if point is not None:
            self.check_point(point)

    @invariant()
    def each_key_in_order(self) -> None:
        for key in KEYS:
            firsts = list(dict.fromkeys(o for o, k in Worker.done if k == key))
            assert firsts == sorted(firsts), f"key {key!r} out of order: {firsts}"

    @invariant()
    def a_key_is_in_one_lane_at_a_time(self) -> None:
        """With ``balanced``, a key's queued and running messages are in one lane only."""
        if self.distribution != "balanced":
            return
        owner: dict[Any, int] = {}
        for lane in self.coordinator._lanes:
            keys = {key for _message, key in lane.queued()}
            job = lane.in_flight
            if isinstance(job, ConsumeJob) and job.keys is not None:
                keys.update(job.keys)
            for key in keys:
                assert owner.setdefault(key, lane.index) == lane.index, f"{key!r} in two lanes"

    # -- liveness ----------------------------------------------------------------------------

    def teardown(self) -> None:
        if not self.log:
            return
        Worker.fail_at.clear()
        Worker.pause_at.clear()
        for _ in range(400):
            while self.ready:
                self.run_a_job(0)
            self.sweep(3.0)
            self.fetch(6)
            self.follow_the_position()
            if (
                not self.ready
                and not self.retired
                and self.coordinator.commit_point() == self.final_point()
            ):
                break
        assert self.processed() >= {o for o, _ in self.log}, "messages never processed"
        point = self.coordinator.commit_point()
        assert point is not None
        assert point[0] == self.end, f"commit {point} != end {self.end}"
        assert self.coordinator.backlog_size == 0
        assert not self.retired, "a revoked coordinator was left with work"
        assert self.coordinator.idle

    def final_point(self) -> tuple[int, str]:
        return (self.end, "")


class VirtualPartition(Partition):
    virtual = True

    def final_point(self) -> tuple[int, str]:
        point = self.coordinator.commit_point()
        return (self.end, point[1] if point is not None else "")


class BalancedPartition(VirtualPartition):
    distribution = "balanced"


class FillingPartition(Partition):
    """Partial batches wait up to ``max_wait_time`` (longer than some sweeps) to fill."""

    max_wait_time = 2.0


class FillingVirtualPartition(VirtualPartition):
    max_wait_time = 2.0


Partition.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
VirtualPartition.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None
)
BalancedPartition.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None
)
TestPartition = Partition.TestCase
TestVirtualPartition = VirtualPartition.TestCase
TestBalancedPartition = BalancedPartition.TestCase
for machine in (FillingPartition, FillingVirtualPartition):
    machine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestFillingPartition = FillingPartition.TestCase
TestFillingVirtualPartition = FillingVirtualPartition.TestCase


def test_hooks_of_revoked_coordinators_all_run() -> None:
    """Revoke while the predecessor still runs, twice: every revoked() hook runs and the
    partition is processed again by the newest owner."""
    machine = Partition()
    machine.write_log(gaps=[0] * 10, keys=[b"a"] * 40, tail=0)
    machine.fetch(3)
    running = [job for job in machine.ready if isinstance(job, ConsumeJob)]
    assert running
    machine.ready.clear()
    machine.rebalance()  # the batch still runs on the first owner
    machine.fetch(3)
    machine.rebalance()  # and again, before anything finished
    machine.fetch(3)
    for job in running:
        machine.ready.extend(job.run())
    for _ in range(20):
        while machine.ready:
            machine.run_a_job(0)
        machine.sweep(1.0)
        machine.fetch(6)
        machine.follow_the_position()
    assert Worker.hooks.count("revoked") == 1  # only the first owner ever made an instance
    assert not machine.retired
    assert machine.processed() == {o for o, _ in machine.log}
    assert machine.coordinator.commit_point() == (10, "")
    assert not any(isinstance(job, HookJob) for job in machine.ready)
