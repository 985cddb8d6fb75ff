"""The engine's own Python cost per batch, without Kafka and without threads.

``python -m bench.engine [--bare-us 0.78] [--fetches 400]``

Drives one partition's real coordinator the way the listener and a worker do, on one thread:
a fetch of 500 prepared messages goes through the listener's split and ``Coordinator.fetched``,
then every job runs (a no-op ``consume()``) and its ``finished`` hands out the lane's next
batch, until the fetch is done and the commit point has reached its end (checked: a run that
leaves work behind fails). It reports the CPU time per batch and per message at max_messages
10, 100 and 500, without and with virtual partitions (25 lanes, 1,000 keys, the default
distribution), the minimum of three runs.

Why it matters: under one GIL the listener's fetch (what the bare ``consume()`` loop does, its
CPU per message in the overhead workload is ``--bare-us``) and the engine's bookkeeping run one
after the other, so even with no thread switches at all parafka's no-op throughput cannot pass
``bare / (bare + engine)`` of the bare loop's. That bound is printed beside each figure; the
overhead workload's measured ratios sit below it (thread hand-offs, the GIL's switching).
Messages are prepared before the clock starts: what is timed is parafka's work only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import parafka
from parafka.config import Settings
from parafka.connection.fetch import split
from parafka.instrumentation import Monitor
from parafka.processing.coordinator import Coordinator
from parafka.routing import Route

__all__ = ["Cost", "main", "measure"]

FETCH = 500
KEYS = 1_000
LANES = 25


class _Raw:
    """What the engine reads of a fetched confluent-kafka message (a stand-in)."""

    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, offset: int, key: bytes) -> None:
        self._offset, self._key, self._value = offset, key, b"x" * 100

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return 0

    def topic(self) -> str:
        return "t"

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def error(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._value)


class _Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        return None


def _key(message: parafka.Message) -> Any:
    return message.key


@dataclass(frozen=True)
class Cost:
    """CPU microseconds of one configuration."""

    max_messages: int
    lanes: int
    batches: int
    messages: int
    seconds: float

    @property
    def per_batch(self) -> float:
        return self.seconds * 1e6 / self.batches

    @property
    def per_message(self) -> float:
        return self.seconds * 1e6 / self.messages


def _coordinator(max_messages: int, lanes: int) -> Coordinator:
    virtual = (
        parafka.VirtualPartitions(partitioner=_key, max_partitions=lanes) if lanes > 1 else None
    )
    route = Route(
        topic="t",
        consumer=_Noop,
        group_id="g",
        subscription_group="default",
        virtual_partitions=virtual,
    )
    return Coordinator(
        route,
        0,
        Settings(max_messages=max_messages),
        Monitor(),
        notify=lambda _c: None,
        on_critical=lambda _e: None,
    )


def _run(max_messages: int, lanes: int, fetches: int) -> Cost:
    # Stand-ins typed as what the engine is given (they answer the same accessors).
    raws: list[Any] = [_Raw(o, b"%d" % (o % KEYS)) for o in range(fetches * FETCH)]
    chunks = [raws[i : i + FETCH] for i in range(0, len(raws), FETCH)]
    coordinator = _coordinator(max_messages, lanes)
    batches = 0
    clock: Callable[[], float] = time.process_time
    start = clock()
    for chunk in chunks:
        by_partition, _errors = split(chunk, "t")
        for fetched in by_partition.values():
            jobs = coordinator.fetched(fetched, None)
            while jobs:
                job = jobs.pop()
                batches += 1
                jobs.extend(job.run())
    seconds = clock() - start
    end = len(raws)
    if coordinator.committable() != end or coordinator.backlog_size:
        raise RuntimeError(
            f"the engine left work behind: commit point {coordinator.committable()} of {end}, "
            f"{coordinator.backlog_size} queued"
        )
    return Cost(max_messages, lanes, batches, end, seconds)


def measure(max_messages: int, lanes: int, fetches: int, repeats: int = 3) -> Cost:
    """The cheapest of ``repeats`` runs (the least disturbed by the rest of the machine)."""
    return min(
        (_run(max_messages, lanes, fetches) for _ in range(repeats)), key=lambda c: c.seconds
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--bare-us", type=float, default=0.78, help="bare loop CPU us/msg")
    parser.add_argument("--fetches", type=int, default=400, help=f"fetches of {FETCH}")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"engine cost on one thread, {args.fetches * FETCH:,} messages, min of {args.repeats}")
    print(f"{'max_messages':>12} {'lanes':>5} {'us/batch':>9} {'us/msg':>7} {'GIL bound':>9}")
    for lanes in (1, LANES):
        for max_messages in (10, 100, 500):
            cost = measure(max_messages, lanes, args.fetches, args.repeats)
            bound = args.bare_us / (args.bare_us + cost.per_message)
            print(
                f"{max_messages:>12} {lanes:>5} {cost.per_batch:>9.2f} {cost.per_message:>7.2f}"
                f" {bound:>9.2f}"
            )


if __name__ == "__main__":
    main()
