"""A hypothesis state machine over a coordinator with virtual partitions: fetch, run any ready
job (succeed or fail), let back-offs pass, revoke. After every step: the commit point never moves
backwards and never passes an offset that has not been processed successfully; each key's
successful processing is in offset order."""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import parafka
from parafka.config import Settings
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, Job
from parafka.processing.progress import decode
from parafka.routing import Route

from .fakes import FakeMessage


class Flaky(parafka.Consumer):
    fail_next: ClassVar[bool] = False
    done: ClassVar[list[tuple[int, bytes | None]]] = []

    def consume(self, messages: parafka.Messages) -> None:
        if Flaky.fail_next:
            raise RuntimeError("planned failure")
        Flaky.done.extend((m.offset, m.key) for m in messages)


class Lanes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        Flaky.done = []
        self.now = 0.0
        self.next_offset = 0
        self.ready: list[Job] = []
        self.last_commit = -1
        self.revoked = False
        self.done_offsets: set[int] = set()
        self.fetched_offsets: set[int] = set()
        route = Route(
            topic="t",
            consumer=Flaky,
            group_id="g",
            subscription_group="default",
            virtual_partitions=parafka.VirtualPartitions(
                partitioner=lambda m: m.key, max_partitions=3
            ),
        )
        self.coordinator = Coordinator(
            route,
            0,
            Settings(concurrency=3, max_messages=3, pause_timeout=1.0, pause_max_timeout=2.0),
            Monitor(),
            notify=lambda _c: None,
            on_critical=lambda _e: None,
            clock=lambda: self.now,
        )

    @rule(keys=st.lists(st.sampled_from([b"a", b"b", b"c", b"d", None]), min_size=1, max_size=6))
    def fetch(self, keys: list[bytes | None]) -> None:
        messages: list[Any] = []
        for key in keys:
            messages.append(FakeMessage(self.next_offset, key=key))
            self.fetched_offsets.add(self.next_offset)
            self.next_offset += 1 + (self.next_offset % 5 == 4)  # an occasional hole
        self.ready.extend(self.coordinator.fetched(messages))

    @precondition(lambda self: self.ready)
    @rule(index=st.integers(0, 100), fail=st.booleans())
    def run_a_job(self, index: int, fail: bool) -> None:
        job = self.ready.pop(index % len(self.ready))
        Flaky.fail_next = fail
        before = len(Flaky.done)
        self.ready.extend(job.run())
        Flaky.fail_next = False
        if isinstance(job, ConsumeJob) and not self.revoked:
            self.done_offsets.update(offset for offset, _ in Flaky.done[before:])

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.ready.extend(self.coordinator.due())

    @precondition(lambda self: not self.revoked)
    @rule()
    def revoke(self) -> None:
        point, jobs = self.coordinator.revoke()
        self.ready.extend(jobs)
        if point is not None:
            self.check_point(point)
        self.revoked = True

    def check_point(self, point: tuple[int, str]) -> None:
        offset, metadata = point
        assert offset >= self.last_commit, "the commit point moved backwards"
        self.last_commit = offset
        # Offsets never fetched are holes (compaction, markers): nothing to process there.
        unprocessed = {o for o in self.fetched_offsets if o < offset} - self.done_offsets
        assert not unprocessed, f"commit {offset} passes unprocessed {sorted(unprocessed)[:5]}"
        for start, end in decode(offset, metadata).finished:
            claimed = {o for o in range(start, end + 1)} & self.fetched_offsets
            assert claimed <= self.done_offsets, "metadata claims unprocessed offsets"

    @invariant()
    def commit_point_is_safe(self) -> None:
        point = self.coordinator.commit_point()
        if self.revoked:
            assert point is None
        elif point is not None:
            self.check_point(point)

    @invariant()
    def each_key_in_order(self) -> None:
        for key in (b"a", b"b", b"c", b"d", None):
            offsets = [o for o, k in Flaky.done if k == key]
            firsts = list(dict.fromkeys(offsets))  # a retried batch may repeat its messages
            assert firsts == sorted(firsts), f"key {key!r} out of order: {offsets}"


Lanes.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLanes = Lanes.TestCase
