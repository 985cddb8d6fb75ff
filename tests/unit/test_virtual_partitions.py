"""Lanes inside one partition, driven directly: order per key, offsets, retries, serial fallback."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest

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
    vp: VirtualPartitions, clock: Clock | None = None, events: list[Event] | None = None
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=Recorder,
        group_id="g",
        subscription_group="default",
        virtual_partitions=vp,
    )
    monitor = Monitor()
    if events is not None:
        monitor.subscribe("*", events.append)
    return Coordinator(
        route,
        0,
        Settings(concurrency=4, max_messages=100, pause_timeout=1.0, pause_max_timeout=2.0),
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock or Clock(),
    )


def by_key() -> VirtualPartitions:
    return VirtualPartitions(partitioner=lambda m: m.key)


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
    assert decode(0, metadata) == [(1, 5)]
    run_all([slow])
    assert c.commit_point() == (6, "")


def test_a_failing_lane_retries_alone_and_holds_the_commit_point() -> None:
    clock = Clock()
    c = make(VirtualPartitions(partitioner=lambda m: m.key, reducer=lambda k: k[0]), clock=clock)
    Recorder.fail = {2}
    jobs = c.fetched(keyed(0, [b"\x00", b"\x01", b"\x00", b"\x01", b"\x00"]))
    run_all(jobs)
    # Lane 1 finished 1 and 3; lane 0's batch (0, 2, 4) failed at 2, so none of it counts.
    assert c.commit_point() == (0, "pfk1:1-0,2-0")
    run_all(c.fetched(keyed(5, [b"\x01", b"\x00"])))  # lane 1 goes on; lane 0 backs off
    assert sorted(o for o, k, _ in Recorder.seen if k == b"\x01") == [1, 3, 5]
    assert [o for o, k, _ in Recorder.seen if k == b"\x00"] == [0]
    assert c.committable() == 0
    Recorder.fail = set()
    clock.now += 1.0
    run_all(c.due())
    assert [o for o, k, _ in Recorder.seen if k == b"\x00"] == [0, 0, 2, 4, 6]
    assert c.committable() == 7


def test_a_raising_partitioner_runs_the_chunk_alone_in_order() -> None:
    events: list[Event] = []

    def partitioner(message: parafka.Message) -> Any:
        if message.offset == 3:
            raise KeyError("no key")
        return message.key

    c = make(VirtualPartitions(partitioner=partitioner), events=events)
    run_all(c.fetched(keyed(0, [b"a", b"b"])))
    jobs = c.fetched(keyed(2, [b"a", b"b", b"c"]))  # the partitioner fails on offset 3
    assert len(jobs) == 1
    assert isinstance(jobs[0], ConsumeJob)
    assert jobs[0].messages[0].offset() == 2
    assert len(jobs[0].messages) == 3
    assert c.fetched(keyed(5, [b"a"])) == []  # waits behind the unsplit chunk
    run_all(jobs)
    seen = [o for o, _, _ in Recorder.seen]
    assert sorted(seen[:2]) == [0, 1]  # two lanes, either order
    assert seen[2:] == [2, 3, 4, 5]  # the unsplit chunk alone, then what queued behind it
    assert c.committable() == 6
    assert [e["type"] for e in events if e.name == "error.occurred"] == [
        "virtual_partitions.partitioner"
    ]


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
    planner = LanePlanner(
        VirtualPartitions(partitioner=lambda m: m.key, distribution="balanced"),
        lanes=2,
        deserializer=parafka.raw_deserializer,
    )
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
