"""Workload "vp": virtual partitions, one Kafka partition processed by many lanes.

Every topic here has ONE partition whose messages are keyed ``f"k{i % 1000}"`` (1,000 keys)
and cost 1 ms of IO each (``time.sleep(0.001)``, whose real cost ``L`` is measured once per run).

- scaling: for each level ``c``, ``App(concurrency=c)`` with ``VirtualPartitions(partitioner=
  lambda m: m.key, max_partitions=c)``; efficiency = throughput / (c / L), timed like
  io-scaling. ``hash_bound``: with consistent distribution a key keeps its lane, and since the
  backlog is bounded the lane with the most messages paces the partition, so efficiency can be
  at most messages / (c x messages of that lane).
- restart: app A (10 lanes, 10 workers) runs until half the messages are processed (and
  batches are running) and is stopped cleanly; app B (same group) then runs until every offset
  was processed. Every processed message is counted per offset; counted twice = a duplicate.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

import parafka
from bench.io_scaling import SLEEP, TIMING, SleepyConsumer, measure_sleep
from bench.kafka import fill_keyed_topic, unique
from bench.probe import AppRun, Progress
from parafka.processing import progress
from parafka.processing.virtual import Distribution, stable_hash

__all__ = ["GOAL", "LEVELS", "VpResult", "run_vp"]

KEYS = 1000
LEVELS = (1, 5, 10, 25)
GOAL = 0.9
RESTART_LANES = 10  # concurrency = max_partitions of both restart apps
CAP = 400_000  # most messages of a level


@dataclass(frozen=True)
class Setup:
    """What every app of the workload shares."""

    bootstrap: str
    max_messages: int
    distribution: Distribution
    kafka: Mapping[str, str]

    def app(
        self, group: str, topic: str, consumer: type[parafka.Consumer], concurrency: int
    ) -> parafka.App:
        """``App(concurrency=c)``, the topic split into ``c`` lanes by message key."""
        app = parafka.App(
            kafka={"bootstrap.servers": self.bootstrap, **self.kafka},
            group_id=group,
            concurrency=concurrency,
            max_messages=self.max_messages,
            log_events=False,
        )
        vp = parafka.VirtualPartitions(
            partitioner=lambda m: m.key, max_partitions=concurrency, distribution=self.distribution
        )
        app.topic(topic, consumer, virtual_partitions=vp, deserializer=parafka.raw_deserializer)
        return app


def wait_for(app: parafka.App, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 5 ms; raise if the app failed or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if app.critical_error is not None:
            raise RuntimeError(f"the app failed: {app.critical_error!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.005)


def hash_bound(concurrency: int, messages: int) -> float:
    """Efficiency cap of consistent distribution (see the module docstring)."""
    lanes = Counter(stable_hash(f"k{i % KEYS}".encode()) % concurrency for i in range(messages))
    return messages / (concurrency * max(lanes.values()))


@dataclass(frozen=True)
class Level:
    concurrency: int  # = max_partitions
    messages: int
    processed: int  # more than `messages` would mean duplicates
    seconds: float
    join_seconds: float
    throughput: float
    ideal: float  # concurrency / L
    efficiency: float
    hash_bound: float | None  # None for balanced distribution
    goal: float = GOAL


@dataclass(frozen=True)
class Restart:
    messages: int
    lanes: int
    busy_at_stop: int  # workers running a batch just before A's stop()
    finished_during_stop: int  # messages A finished after stop() was called
    a_processed: int
    a_clean: bool
    a_committed: int  # A's committed offset ...
    a_finished_above: int  # ... and the offsets its metadata marks finished above it
    b_processed: int
    b_clean: bool
    b_committed: int
    duplicates: int  # offsets processed twice or more
    missed: int  # offsets never processed

    @property
    def met_goal(self) -> bool:
        got = (self.duplicates, self.missed, self.a_clean, self.b_clean, self.b_committed)
        return got == (0, 0, True, True, self.messages)


@dataclass(frozen=True)
class VpResult:
    sleep_cost: float
    keys: int
    max_messages: int
    distribution: str
    target_seconds: float
    levels: list[Level]
    restart: Restart
    timing: str = TIMING

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for level, raw in zip(self.levels, data["levels"], strict=True):
            raw["met_goal"] = level.efficiency >= level.goal
        data["restart"]["met_goal"] = self.restart.met_goal
        return data


def timed_level(setup: Setup, topic: str, count: int, concurrency: int) -> AppRun:
    """Process the level's topic with a fresh group until ``count`` messages are done."""
    app = setup.app(unique("vp"), topic, SleepyConsumer, concurrency)
    tracker = Progress(count)
    app.monitor.subscribe("listener.polled", tracker.on_polled)
    app.monitor.subscribe("worker.processed", tracker.on_processed)
    started = time.monotonic()
    app.start()
    try:
        wait_for(app, tracker.done.is_set, 600.0, f"{count} processed messages of {topic}")
    finally:
        stopping = time.monotonic()
        clean = app.stop()
    return tracker.result(started, clean, time.monotonic() - stopping)


def running_batches(app: parafka.App) -> int:
    """Workers running a batch now (``ConsumeJob.describe()`` names offsets, hooks do not)."""
    return sum(" offsets " in busy.job for busy in app.workers.busy())


def committed(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """The group's committed offset of partition 0 and the offsets finished above it."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = client.committed([TopicPartition(topic, 0)], timeout=15)
    finally:
        client.close()
    ranges = progress.decode(tp.offset, tp.metadata)
    return tp.offset, sum(end - start + 1 for start, end in ranges)


def restart_run(setup: Setup, messages: int) -> Restart:
    """App A until half is processed, a clean stop, then app B (same group) until all is."""
    topic, _ = fill_keyed_topic(setup.bootstrap, "vp-restart", messages, KEYS)
    group, lock, counts = unique("vp-restart"), threading.Lock(), Counter[int]()

    class Counting(parafka.Consumer):  # counts[offset] += 1 for each processed message
        def consume(self, batch: parafka.Messages) -> None:
            for message in batch:
                time.sleep(SLEEP)
                with lock:
                    counts[message.offset] += 1

    def processed(distinct: bool = False) -> int:
        with lock:
            return len(counts) if distinct else counts.total()

    def half_and_running() -> bool:  # a fetch can leave every lane idle at a round count
        return processed(distinct=True) >= messages // 2 and running_batches(app) > 0

    app = setup.app(group, topic, Counting, RESTART_LANES)
    app.start()
    try:
        wait_for(app, half_and_running, 300.0, "half processed with batches in flight")
        busy, before = running_batches(app), processed()
    finally:
        a_clean = app.stop()
    a_processed = processed()  # A's workers are done: it no longer changes
    a_committed, a_above = committed(setup.bootstrap, group, topic)
    app = setup.app(group, topic, Counting, RESTART_LANES)
    app.start()
    try:
        wait_for(app, lambda: processed(True) >= messages, 300.0, "every offset processed")
    except TimeoutError:
        pass  # reported below as missed offsets
    finally:
        b_clean = app.stop()
    b_committed, _ = committed(setup.bootstrap, group, topic)
    return Restart(
        messages=messages,
        lanes=RESTART_LANES,
        busy_at_stop=busy,
        finished_during_stop=a_processed - before,
        a_processed=a_processed,
        a_clean=a_clean,
        a_committed=a_committed,
        a_finished_above=a_above,
        b_processed=processed() - a_processed,
        b_clean=b_clean,
        b_committed=b_committed,
        duplicates=sum(1 for n in counts.values() if n > 1),
        missed=sum(1 for offset in range(messages) if offset not in counts),
    )


def run_vp(
    bootstrap: str,
    *,
    seconds: float,
    max_messages: int,
    levels: Sequence[int] = LEVELS,
    restart_messages: int = 20_000,
    distribution: Distribution = "consistent",
    sleep_cost: float | None = None,
    sleep_samples: int = 2000,
    kafka: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> VpResult:
    """Scaling levels (``L`` measured here unless given), then the restart run."""
    if sleep_cost is None:
        sleep_cost = measure_sleep(sleep_samples)
        echo(f"vp: L = {sleep_cost * 1000:.4f} ms per time.sleep(0.001) ({sleep_samples} runs)")
    setup = Setup(bootstrap, max_messages, distribution, dict(kafka or {}))
    topics = []
    for concurrency in levels:
        count = max(1, round(min(concurrency / sleep_cost * seconds, CAP)))
        topic, took = fill_keyed_topic(bootstrap, f"vp-c{concurrency}", count, KEYS)
        echo(f"vp: produced {count:,} keyed messages for c={concurrency} in {took:.1f} s")
        topics.append((concurrency, topic, count))
    results = []
    for concurrency, topic, count in topics:
        run = timed_level(setup, topic, count, concurrency)
        elapsed = run.last_processed - run.first_started
        ideal = concurrency / sleep_cost
        bound = hash_bound(concurrency, count) if distribution == "consistent" else None
        level = Level(
            concurrency=concurrency,
            messages=count,
            processed=run.processed,
            seconds=elapsed,
            join_seconds=run.first_started - run.started,
            throughput=count / elapsed,
            ideal=ideal,
            efficiency=count / elapsed / ideal,
            hash_bound=bound,
        )
        results.append(level)
        extra = "" if run.processed == count else f" (processed {run.processed}!)"
        echo(
            f"vp: concurrency {concurrency:>2}: {level.throughput:>8,.0f} msg/s of "
            f"{ideal:,.0f} ideal = {level.efficiency:.3f} in {elapsed:.2f} s{extra}"
        )
    restart = restart_run(setup, restart_messages)
    echo(f"vp: restart: {restart.duplicates} duplicates, {restart.missed} missed offsets")
    return VpResult(sleep_cost, KEYS, max_messages, distribution, seconds, results, restart)
