"""Workload "overhead": parafka with a no-op consumer against a bare confluent-kafka loop.

Both read the same topic from the beginning under a fresh group id, and both are timed the
same way: from the first fetch that returns messages to the moment the last of the ``N``
messages is processed (the bare loop: counted), so the group join is left out of both. The
time from start to the first message (join + first fetch) is recorded beside it.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException

import parafka
from bench.kafka import fill_topic, unique
from bench.probe import run_app

__all__ = ["GOAL", "OverheadResult", "run_overhead"]

GOAL = 0.9  # parafka / bare throughput
PARTITIONS = 8
BATCH = 500
FETCH_TIMEOUT = 0.05  # the bare loop's consume() timeout, as parafka's listener uses
TIMING = "from the first fetch returning messages to the last message processed (join excluded)"

_LOG = logging.getLogger("bench.overhead")
_LOG.addHandler(logging.NullHandler())


class NoOp(parafka.Consumer):
    """Processes a batch by doing nothing: what is left is parafka's own cost."""

    def consume(self, messages: parafka.Messages) -> None:
        pass


@dataclass(frozen=True)
class Run:
    """One timed read of the whole topic."""

    kind: str  # "bare" or "parafka"
    seconds: float  # timed part (see TIMING)
    to_first_message: float  # start -> first fetch with messages (group join)
    processed: int  # more than the topic holds would mean duplicates
    throughput: float  # the topic's messages / seconds


@dataclass(frozen=True)
class OverheadResult:
    messages: int
    partitions: int
    concurrency: int
    produce_seconds: float
    runs: list[Run]
    bare_median: float  # messages/s
    parafka_median: float
    ratio: float
    goal: float = GOAL
    timing: str = TIMING

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["met_goal"] = self.ratio >= self.goal
        return data


def bare_run(
    bootstrap: str, topic: str, expected: int, kafka: Mapping[str, str], timeout: float = 600.0
) -> Run:
    """``consume(500)`` until ``expected`` messages arrived, checking only ``error()``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "auto.offset.reset": "earliest",
            **kafka,
            "group.id": unique("bare"),
            "logger": _LOG,
        }
    )
    started = time.monotonic()
    deadline = started + timeout
    first: float | None = None
    received = 0
    try:
        consumer.subscribe([topic])
        consume = consumer.consume
        while received < expected:
            batch = consume(BATCH, FETCH_TIMEOUT)
            if not batch:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"bare loop got {received} of {expected} in {timeout} s")
                continue
            if first is None:
                first = time.monotonic()
            for message in batch:
                if message.error() is not None:
                    raise KafkaException(message.error())
            received += len(batch)
        finished = time.monotonic()
    finally:
        consumer.close()
    assert first is not None
    return Run("bare", finished - first, first - started, received, expected / (finished - first))


def parafka_run(
    bootstrap: str, topic: str, expected: int, concurrency: int, kafka: Mapping[str, str]
) -> Run:
    """The no-op app until ``expected`` messages are processed (``worker.processed``)."""
    run = run_app(
        bootstrap,
        topic,
        NoOp,
        expected=expected,
        concurrency=concurrency,
        max_messages=BATCH,
        kafka=kafka,
    )
    seconds = run.reached - run.first_polled
    return Run(
        "parafka", seconds, run.first_polled - run.started, run.processed, expected / seconds
    )


def run_overhead(
    bootstrap: str,
    messages: int,
    concurrency: int,
    repeats: int = 3,
    kafka: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> OverheadResult:
    """Produce the topic once, then alternate bare and parafka reads ``repeats`` times each."""
    echo(f"overhead: producing {messages:,} messages of 16 bytes to {PARTITIONS} partitions")
    topic, produce_seconds = fill_topic(bootstrap, "overhead", PARTITIONS, messages)
    echo(f"overhead: produced in {produce_seconds:.1f} s")
    kafka = dict(kafka or {})
    runs: list[Run] = []
    for repeat in range(1, repeats + 1):
        for kind in ("bare", "parafka"):
            if kind == "bare":
                run = bare_run(bootstrap, topic, messages, kafka)
            else:
                run = parafka_run(bootstrap, topic, messages, concurrency, kafka)
            runs.append(run)
            extra = "" if run.processed == messages else f" (processed {run.processed}!)"
            echo(
                f"overhead: {kind:<7} run {repeat}: {run.throughput:>10,.0f} msg/s "
                f"in {run.seconds:.2f} s (join {run.to_first_message:.2f} s){extra}"
            )
    bare = statistics.median(r.throughput for r in runs if r.kind == "bare")
    app = statistics.median(r.throughput for r in runs if r.kind == "parafka")
    return OverheadResult(
        messages=messages,
        partitions=PARTITIONS,
        concurrency=concurrency,
        produce_seconds=produce_seconds,
        runs=runs,
        bare_median=bare,
        parafka_median=app,
        ratio=app / bare,
    )
