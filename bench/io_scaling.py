"""Workload "io-scaling": 1 ms of simulated IO per message, at growing concurrency.

``L`` is what one ``time.sleep(0.001)`` really costs on this machine (measured first, in the
same run). With ``c`` workers the ideal throughput is ``c / L`` messages per second; efficiency
is the measured throughput over that. Each concurrency level reads its own fresh topic of 50
partitions (round-robin, so every partition holds the same count), sized to last about
``seconds`` at the ideal rate. Timing leaves the group join out: it runs from the start of the
earliest processed batch (the first ``worker.processed`` event minus its ``took``) to the last
``worker.processed`` event, and every message of the topic falls inside that window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import parafka
from bench.kafka import fill_topic
from bench.probe import run_app

__all__ = ["LEVELS", "IoScalingResult", "goal_for", "measure_sleep", "run_io_scaling"]

PARTITIONS = 50
LEVELS = (1, 5, 10, 25, 50)
SLEEP = 0.001
TIMING = "from the start of the earliest processed batch to the last one (join excluded)"


def goal_for(concurrency: int) -> float:
    return 0.9 if concurrency <= 25 else 0.85


def measure_sleep(samples: int) -> float:
    """Mean wall time of one ``time.sleep(0.001)`` (loop included), in seconds."""
    began = time.perf_counter()
    for _ in range(samples):
        time.sleep(SLEEP)
    return (time.perf_counter() - began) / samples


class SleepyConsumer(parafka.Consumer):
    """1 ms of blocking IO per message (``time.sleep`` releases the GIL, as IO does)."""

    def consume(self, messages: parafka.Messages) -> None:
        for _ in messages:
            time.sleep(SLEEP)


@dataclass(frozen=True)
class Level:
    """One concurrency level's run."""

    concurrency: int
    messages: int
    processed: int  # more than `messages` would mean duplicates
    seconds: float
    join_seconds: float  # app.start() -> first batch began
    throughput: float
    ideal: float  # concurrency / L
    efficiency: float
    goal: float

    @property
    def met_goal(self) -> bool:
        return self.efficiency >= self.goal


@dataclass(frozen=True)
class IoScalingResult:
    sleep_cost: float  # L, seconds
    sleep_samples: int
    partitions: int
    max_messages: int
    target_seconds: float
    levels: list[Level]
    timing: str = TIMING

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for level, raw in zip(self.levels, data["levels"], strict=True):
            raw["met_goal"] = level.met_goal
        return data


def level_size(concurrency: int, sleep_cost: float, seconds: float, cap: int) -> int:
    """Messages for one level: ``seconds`` at the ideal rate, a multiple of the partitions."""
    wanted = min(concurrency / sleep_cost * seconds, cap)
    return max(1, round(wanted / PARTITIONS)) * PARTITIONS


def run_io_scaling(
    bootstrap: str,
    *,
    seconds: float,
    max_messages: int,
    sleep_samples: int,
    levels: Sequence[int] = LEVELS,
    cap: int = 400_000,
    kafka: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> IoScalingResult:
    """Measure ``L``, produce one topic per level, then run the levels in order."""
    sleep_cost = measure_sleep(sleep_samples)
    echo(f"io-scaling: L = {sleep_cost * 1000:.4f} ms per time.sleep(0.001) ({sleep_samples} runs)")
    topics = []
    for concurrency in levels:
        count = level_size(concurrency, sleep_cost, seconds, cap)
        topic, took = fill_topic(bootstrap, f"io-c{concurrency}", PARTITIONS, count)
        echo(f"io-scaling: produced {count:,} messages for c={concurrency} in {took:.1f} s")
        topics.append((concurrency, topic, count))
    results = []
    for concurrency, topic, count in topics:
        run = run_app(
            bootstrap,
            topic,
            SleepyConsumer,
            expected=count,
            concurrency=concurrency,
            max_messages=max_messages,
            kafka=dict(kafka or {}),
        )
        elapsed = run.last_processed - run.first_started
        ideal = concurrency / sleep_cost
        level = Level(
            concurrency=concurrency,
            messages=count,
            processed=run.processed,
            seconds=elapsed,
            join_seconds=run.first_started - run.started,
            throughput=count / elapsed,
            ideal=ideal,
            efficiency=count / elapsed / ideal,
            goal=goal_for(concurrency),
        )
        results.append(level)
        extra = "" if run.processed == count else f" (processed {run.processed}!)"
        echo(
            f"io-scaling: concurrency {concurrency:>2}: {level.throughput:>8,.0f} msg/s of "
            f"{ideal:,.0f} ideal = {level.efficiency:.3f} in {elapsed:.2f} s{extra}"
        )
    return IoScalingResult(
        sleep_cost=sleep_cost,
        sleep_samples=sleep_samples,
        partitions=PARTITIONS,
        max_messages=max_messages,
        target_seconds=seconds,
        levels=results,
    )
