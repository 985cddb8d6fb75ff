"""Lanes inside one partition, driven directly: order per key, offsets, retries, serial fallback."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parafka
from parafka.config import Settings
from parafka.instrumentation import Event, Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, HookJob, Job
from parafka.processing.progress import decode
from parafka.processing.virtual import LanePlanner, VirtualPartitions, stable_hash
from parafka.routing import Route

from .fakes import FakeMessage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder(parafka.Consumer):
    seen: ClassVar[list[tuple[int, bytes | None, int]]] = []  # (offset, key, instance)
    fail: ClassVar[set[int]] = set()
    lock = threading.Lock()

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            if message.offset in Recorder.fail:
                raise RuntimeError(f"offset {message.offset}")
            with Recorder.lock:
                Recorder.seen.append((message.offset, message.key, id(self)))


@pytest.fixture(autouse=True)
def _reset() -> None:
    Recorder.seen = []
    Recorder.fail = set()


def keyed(first: int, keys: list[bytes | None]) -> list[Any]:
    return [FakeMessage(first + i, key=key) for i, key in enumerate(keys)]


def make(
    vp: VirtualPartitions,
    clock: Clock | None = None,
    events: list[Event] | None = None,
    consumer: type[parafka.Consumer] = Recorder,
    dead_letter_queue: parafka.DeadLetterQueue | None = None,
    **settings: Any,
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=consumer,
        group_id="g",
        subscription_group="default",
        virtual_partitions=vp,
        dead_letter_queue=dead_letter_queue,
    )
    monitor = Monitor()
    if events is not None:
        monitor.subscribe("*", events.append)
    options: dict[str, Any] = {
        "concurrency": 4,
        "max_messages": 100,
        "pause_timeout": 1.0,
        "pause_max_timeout": 2.0,
    }
    return Coordinator(
        route,
        0,
        Settings(**{**options, **settings}),
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock or Clock(),
    )


def by_key() -> VirtualPartitions:
    return VirtualPartitions(partitioner=lambda m: m.key, distribution="consistent")


def run_all(jobs: list[Job]) -> None:
    """Run jobs (depth-first, like idle workers would) until nothing is ready."""
    pending = list(jobs)
    while pending:
        pending.extend(pending.pop(0).run())


def test_lanes_split_by_key_and_run_at_once() -> None:
    c = make(by_key())
    keys = [b"a", b"b", b"c", b"d"] * 5
    jobs = c.fetched(keyed(0, keys))
    lanes = {stable_hash(k) % 4 for k in (b"a", b"b", b"c", b"d")}
    assert len(jobs) == len(lanes)  # one job per busy lane, all ready at once
    run_all(jobs)
    for key in (b"a", b"b", b"c", b"d"):
        offsets = [o for o, k, _ in Recorder.seen if k == key]
        assert offsets == sorted(offsets)
        assert len({i for _, k, i in Recorder.seen if k == key}) == 1  # one instance per key
    assert c.committable() == 20


def test_the_commit_point_waits_for_the_first_unfinished_offset() -> None:
    c = make(VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda k: k[0]))
    jobs = c.fetched(keyed(0, [b"\x00", b"\x01", b"\x02", b"\x03", b"\x01", b"\x02"]))
    assert len(jobs) == 4
    slow, others = jobs[0], jobs[1:]  # lane 0 holds offset 0
    run_all(others)
    assert c.committable() == 0  # offset 0 still running
    offset, metadata = c.commit_point() or (None, "")
    assert offset == 0
    assert decode(0, metadata).finished == [(1, 5)]
    run_all([slow])
    assert c.commit_point() == (6, "")


def test_a_failing_lane_retries_alone_and_holds_the_commit_point() -> None:
    clock = Clock()
    c = make(VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda k: k[0]), clock=clock)
    Recorder.fail = {2}
    jobs = c.fetched(keyed(0, [b"\x00", b"\x01", b"\x00", b"\x01", b"\x00"]))
    run_all(jobs)
    # Lane 1 finished 1 and 3; lane 0's batch (0, 2, 4) failed at 2, so none of it counts.
    assert c.commit_point() == (0, "pfk3:0:r1-0,2-0")
    run_all(c.fetched(keyed(5, [b"\x01", b"\x00"])))  # lane 1 goes on; lane 0 backs off
    assert sorted(o for o, k, _ in Recorder.seen if k == b"\x01") == [1, 3, 5]
    assert [o for o, k, _ in Recorder.seen if k == b"\x00"] == [0]
    assert c.committable() == 0
    Recorder.fail = set()
    clock.now += 1.0
    run_all(c.due())
    assert [o for o, k, _ in Recorder.seen if k == b"\x00"] == [0, 0, 2, 4, 6]
    assert c.committable() == 7


def test_a_raising_partitioner_runs_that_message_alone_in_order() -> None:
    events: list[Event] = []

    def partitioner(message: parafka.Message) -> Any:
        if message.offset == 3:
            raise KeyError("no key")
        return message.key

    c = make(VirtualPartitions(partitioner=partitioner), events=events)
    run_all(c.fetched(keyed(0, [b"a", b"b"])))
    jobs = c.fetched(keyed(2, [b"a", b"b", b"c"]))  # the partitioner fails on offset 3
    assert [[m.offset() for m in j.messages] for j in jobs if isinstance(j, ConsumeJob)] == [[2]]
    assert c.fetched(keyed(5, [b"a"])) == []  # waits behind the message without a key
    run_all(jobs)
    seen = [o for o, _, _ in Recorder.seen]
    assert sorted(seen[:2]) == [0, 1]  # two lanes, either order
    assert seen[2:4] == [2, 3]  # offset 3 alone, after everything before it
    assert sorted(seen[4:]) == [4, 5]  # then what queued behind it, in lanes again
    assert c.committable() == 6
    assert [e["type"] for e in events if e.name == "error.occurred"] == [
        "virtual_partitions.partitioner"
    ]


def dlq_route_coordinator(
    vp: VirtualPartitions, events: list[Event], max_messages: int = 100
) -> Coordinator:
    clock = Clock()
    dlq = parafka.DeadLetterQueue(topic=None, max_retries=1)
    coordinator = make(vp, clock, events, dead_letter_queue=dlq, max_messages=max_messages)
    coordinator.test_clock = clock  # type: ignore[attr-defined]
    return coordinator


def run_with_retries(c: Coordinator, jobs: list[Job], rounds: int = 50) -> list[int]:
    """Run jobs, polling due() for back-offs, until nothing is left; the batch sizes."""
    sizes: list[int] = []
    pending = list(jobs)
    for _ in range(rounds):
        while pending:
            job = pending.pop(0)
            if isinstance(job, ConsumeJob):
                sizes.append(len(job.messages))
            pending.extend(job.run())
        c.test_clock.now += 10.0  # type: ignore[attr-defined]  # every back-off is over
        pending = c.due()
        if not pending:
            break
    return sizes


def test_a_failing_partitioner_and_a_failing_consume_dead_letter_only_that_message() -> None:
    """The issue's case: the partitioner fails on one message and consume() fails on it too.
    Good messages run once, in batches of at most max_messages, the bad one is dead-lettered."""
    events: list[Event] = []

    def partitioner(message: parafka.Message) -> Any:
        if message.offset == 100:
            raise ValueError("no key")
        return message.key

    Recorder.fail = {100}
    c = dlq_route_coordinator(VirtualPartitions(partitioner=partitioner), events, max_messages=7)
    sizes = run_with_retries(c, c.fetched(keyed(0, [b"k%d" % (i % 5) for i in range(201)])))
    seen = [o for o, _, _ in Recorder.seen]
    assert sorted(seen) == [o for o in range(201) if o != 100]  # each good one exactly once
    assert max(sizes) <= 7
    assert c.committable() == 201
    dispatched = [e for e in events if e.name == "dead_letter_queue.dispatched"]
    assert [e["offset"] for e in dispatched] == [100]


@pytest.mark.parametrize(
    ("vp", "source", "words"),
    [
        (
            VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda _k: "lane"),
            "reducer",
            "must return an int",
        ),
        (
            VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda _k: 1 / 0),
            "reducer",
            "division by zero",
        ),
        (
            VirtualPartitions(partitioner=lambda m: [m.key], distribution="balanced"),
            "key",
            "unhashable",
        ),
        (VirtualPartitions(partitioner=lambda m: object()), "key", "hash is its id()"),
    ],
)
def test_bad_keys_and_reducers_take_the_failed_key_path(
    vp: VirtualPartitions, source: str, words: str
) -> None:
    events: list[Event] = []
    c = make(vp, events=events)
    run_all(c.fetched(keyed(0, [b"a", b"b", b"c"])))
    assert [o for o, _, _ in Recorder.seen] == [0, 1, 2]  # one at a time, in order
    assert c.committable() == 3
    errors = [e for e in events if e.name == "error.occurred"]
    assert {e["type"] for e in errors} == {f"virtual_partitions.{source}"}
    assert words in str(errors[0]["error"])


def test_none_keys_share_a_lane() -> None:
    c = make(by_key())
    run_all(c.fetched(keyed(0, [None, b"x", None, None])))
    none_offsets = [o for o, k, _ in Recorder.seen if k is None]
    assert none_offsets == [0, 2, 3]
    assert len({i for _, k, i in Recorder.seen if k is None}) == 1


def test_the_previous_owners_finished_offsets_are_skipped() -> None:
    route_vp = VirtualPartitions(partitioner=lambda m: m.key)
    route = Route(
        topic="t",
        consumer=Recorder,
        group_id="g",
        subscription_group="default",
        virtual_partitions=route_vp,
    )
    c = Coordinator(
        route,
        0,
        Settings(concurrency=4),
        Monitor(),
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        finished=[(12, 13), (15, 15)],
    )
    run_all(c.fetched(keyed(10, [b"a", b"b", b"c", b"d", b"e", b"f", b"g"])))
    assert sorted(o for o, _, _ in Recorder.seen) == [10, 11, 14, 16]
    assert c.committable() == 17


def test_revoke_runs_revoked_once_per_lane_that_had_an_instance() -> None:
    class Hooks(Recorder):
        revoked_instances: ClassVar[list[int]] = []

        def revoked(self) -> None:
            Hooks.revoked_instances.append(id(self))

    route = Route(
        topic="t",
        consumer=Hooks,
        group_id="g",
        subscription_group="default",
        virtual_partitions=VirtualPartitions(partitioner=lambda m: m.key, max_partitions=3),
    )
    c = Coordinator(
        route, 0, Settings(), Monitor(), notify=lambda _c: None, on_critical=lambda _e: None
    )
    run_all(c.fetched(keyed(0, [b"a", b"b", b"c", b"d", b"e", b"f"])))
    instances = {i for _, _, i in Recorder.seen}
    _point, hooks = c.revoke()
    assert all(isinstance(h, HookJob) for h in hooks)
    assert len(hooks) == 3
    run_all(hooks)
    assert sorted(Hooks.revoked_instances) == sorted(instances)


def test_balanced_packs_keys_by_size_and_keeps_a_busy_key_in_its_lane() -> None:
    planner = LanePlanner(lanes=2)
    first = planner.plan([b"big"] * 4 + [b"s1", b"s2", b"s3"], [0, 0])
    big_lane = first[0]
    assert first[:4] == [big_lane] * 4
    assert first[4:] == [1 - big_lane] * 3  # the small keys fill the other lane
    # b"big" still has work queued: it stays in its lane even when that lane is busier.
    second = planner.plan([b"big", b"new"], [10, 0])
    assert second == [big_lane, 1]  # b"new" goes to the least loaded lane
    planner.release([b"big"] * 5)
    third = planner.plan([b"big"], [10, 0])
    assert third == [1]  # free again: it goes where the load is lowest


class _ScanPlanner:
    """The balanced rule written the plain way (a scan of every lane per key): the reference."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.pending: dict[bytes, list[int]] = {}  # key -> [lane, messages pending]

    def plan(self, keys: list[bytes], loads: list[int]) -> list[int]:
        loads = list(loads)
        sizes: dict[bytes, int] = {}
        for key in keys:
            sizes[key] = sizes.get(key, 0) + 1
        chosen = {k: self.pending[k][0] for k in sizes if k in self.pending}
        for key, lane in chosen.items():
            loads[lane] += sizes[key]
        for key, size in sorted(
            ((k, s) for k, s in sizes.items() if k not in chosen), key=lambda item: -item[1]
        ):
            lane = min(range(self.lanes), key=lambda i: loads[i])
            chosen[key] = lane
            loads[lane] += size
        for key, size in sizes.items():
            self.pending.setdefault(key, [chosen[key], 0])[1] += size
        return [chosen[k] for k in keys]

    def release(self, keys: list[bytes]) -> None:
        for key in keys:
            entry = self.pending.get(key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del self.pending[key]


@settings(max_examples=300, deadline=None)
@given(
    lanes=st.integers(1, 6),
    steps=st.lists(
        st.tuples(
            st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"g"]), max_size=12),
            st.lists(st.integers(0, 20), min_size=6, max_size=6),
            st.integers(0, 12),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_balanced_planner_matches_the_plain_rule(
    lanes: int, steps: list[tuple[list[bytes], list[int], int]]
) -> None:
    planner, reference = LanePlanner(lanes), _ScanPlanner(lanes)
    released: list[bytes] = []
    for keys, loads, release in steps:
        assert planner.plan(keys, loads[:lanes]) == reference.plan(keys, loads[:lanes])
        released += keys
        done, released = released[:release], released[release:]
        planner.release(done)
        reference.release(done)


def test_stable_hash_is_stable_and_spreads_keys() -> None:
    assert stable_hash(b"order-1") == stable_hash("order-1")
    assert stable_hash(None) == 0
    assert stable_hash(7) == 7
    lanes = [stable_hash(f"key-{i}".encode()) % 8 for i in range(8000)]
    counts = [lanes.count(lane) for lane in range(8)]
    assert min(counts) > 800  # near 1000 each, unlike a character sum


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"partitioner": 3}, "partitioner=...) must be callable"),
        ({"partitioner": len, "max_partitions": 0}, "max_partitions=...) must be an integer"),
        ({"partitioner": len, "distribution": "random"}, "'consistent' or 'balanced'"),
    ],
)
def test_bad_virtual_partition_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as info:
        VirtualPartitions(**options)
    assert message in str(info.value)


class Pauser(parafka.Consumer):
    """The lane of key b"fast" pauses once at offset 7; everything processed is recorded."""

    paused: ClassVar[bool] = False

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            if message.offset == 7 and not Pauser.paused:
                Pauser.paused = True
                self.pause(7, timeout=1.0)
                return
            with Recorder.lock:
                Recorder.seen.append((message.offset, message.key, id(self)))


@pytest.mark.parametrize("distribution", ["consistent", "balanced"])
def test_a_pause_in_one_lane_never_drops_or_skips_another_lanes_messages(
    distribution: str,
) -> None:
    """The issue's case: two lanes, one slow; the fast one pauses once. Every message is
    processed, the slow lane's queued messages below the pause offset included."""
    Pauser.paused = False
    clock = Clock()
    vp = VirtualPartitions(
        partitioner=lambda m: m.key,
        max_partitions=2,
        **({"reducer": lambda k: 0 if k == b"slow" else 1} if distribution == "consistent" else {}),
        distribution=distribution,  # type: ignore[arg-type]
    )
    c = make(vp, clock, consumer=Pauser, concurrency=2, max_messages=2)
    keys = [b"slow" if i % 2 == 0 else b"fast" for i in range(12)]  # slow: even offsets
    jobs = c.fetched(keyed(0, keys))
    slow = next(j for j in jobs if isinstance(j, ConsumeJob) and j.messages[0].key() == b"slow")
    fast = [j for j in jobs if j is not slow]
    pending = list(fast)
    while pending:  # the fast lane runs ahead: 1, 3, then 5 and the pause at 7
        pending.extend(pending.pop(0).run())
    assert Pauser.paused
    assert c.seek_due() is None  # the slow lane still runs [0, 2]; 4, 6, ... are queued
    pending = slow.run()  # no new batch starts while the pause is pending
    assert pending == []
    while pending:
        pending.extend(pending.pop(0).run())
    for _ in range(20):
        clock.now += 2.0
        target = c.seek_due()
        if target is not None:
            pending = c.sought()
            pending += c.fetched(keyed(target, keys[target:]))
            while pending:
                pending.extend(pending.pop(0).run())
        pending = c.due()
        while pending:
            pending.extend(pending.pop(0).run())
    seen = {o for o, _, _ in Recorder.seen}
    assert seen == set(range(12)), sorted(set(range(12)) - seen)
    assert c.committable() == 12
    for key in (b"slow", b"fast"):
        firsts = list(dict.fromkeys(o for o, k, _ in Recorder.seen if k == key))
        assert firsts == sorted(firsts)


def test_the_default_distribution_is_balanced_and_a_reducer_means_consistent() -> None:
    assert VirtualPartitions(partitioner=lambda m: m.key).distribution == "balanced"
    with_reducer = VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda k: 0)
    assert with_reducer.distribution == "consistent"
    with pytest.raises(parafka.ConfigurationError, match=r"reducer=\.\.\.\) is only used with"):
        VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda k: 0, distribution="balanced")
