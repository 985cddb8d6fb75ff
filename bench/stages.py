"""Where the latency workload's time goes, message by message.

``python -m bench.stages --bootstrap HOST:PORT [--rate 4500] [--max-messages 100]
[--concurrency 10] [--seconds 15] [--linger always]``

The latency workload's shape (10 partitions, 1 ms of IO per message, a steady stream from
another process: ``bench.workloads._PacedProducer``, stamped values, ``linger.ms`` 1) on a
fresh topic whose messages carry the broker's append time (``message.timestamp.type``
``LogAppendTime``), consumed by one ``parafka.App``. For each message it records:

- sent: the stamp the producer wrote into the value;
- appended: the broker's append time (the message's timestamp, milliseconds);
- polled: when the listener's fetch returned it (``poll_batch``, wrapped);
- started: when ``consume()`` began its batch, and when it began this message;
- done: when its 1 ms of work ended.

It prints, for each stage, the p50 / p90 / p99 in milliseconds over the messages sent from 1 s
after the first, and the mean of each stage over the slowest 1 % (what the p99 is made of),
and the process's CPU per message. ``--linger always`` makes every fetch linger (the listener
before it lingered only while every worker was busy), for an A/B in one run of commands.
The broker's clock and the processes' are the same machine's; appended has a millisecond's
resolution, so the first two stages are each ±1 ms.
Thread ownership: the main thread drives; ``consume`` runs on parafka's workers and appends
to a list (thread-safe under the GIL); the wrapped fetch runs on the listener thread.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in the stubs
    AdminClient,
    NewTopic,
)

import parafka
import parafka.connection.listener as listener_module
from bench.contenders.common import sent_at
from bench.contenders.venvs import ROOT
from bench.kafka import unique
from parafka.connection.fetch import poll_batch

PARTITIONS = 10


@dataclass(frozen=True, slots=True)
class Stamps:
    """One message's times (seconds since the epoch)."""

    sent: float
    appended: float
    polled: float
    batch_started: float
    started: float
    done: float


STAGES: dict[str, Callable[[Stamps], float]] = {
    "send -> append": lambda s: s.appended - s.sent,
    "append -> poll": lambda s: s.polled - s.appended,
    "poll -> batch": lambda s: s.batch_started - s.polled,
    "batch -> message": lambda s: s.started - s.batch_started,
    "message -> done": lambda s: s.done - s.started,
    "total": lambda s: s.done - s.sent,
}


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank below), 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(stamps: Sequence[Stamps], warmup: float = 1.0) -> list[str]:
    """The table's lines: per stage p50 / p90 / p99 (ms) of the messages sent ``warmup``
    seconds after the first, then each stage's mean over the slowest 1 % of them."""
    if not stamps:
        return ["no messages"]
    first = min(s.sent for s in stamps)
    kept = [s for s in stamps if s.sent >= first + warmup]
    lines = [f"{len(kept):,} messages (from {warmup:g} s after the first)"]
    for name, stage in STAGES.items():
        values = [stage(s) for s in kept]
        lines.append(
            f"  {name:17} p50 {quantile(values, 0.5) * 1e3:6.2f}  "
            f"p90 {quantile(values, 0.9) * 1e3:6.2f}  p99 {quantile(values, 0.99) * 1e3:6.2f} ms"
        )
    slowest = sorted(kept, key=STAGES["total"])[-max(1, len(kept) // 100) :]
    parts = ", ".join(
        f"{name} {sum(map(stage, slowest)) / len(slowest) * 1e3:.2f}"
        for name, stage in STAGES.items()
        if name != "total"
    )
    lines.append(f"  slowest 1 %, mean ms: {parts}")
    return lines


def _topic(bootstrap: str) -> str:
    topic = unique("stages")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"message.timestamp.type": "LogAppendTime"}
    futures = admin.create_topics([NewTopic(topic, PARTITIONS, 1, config=config)])
    for future in futures.values():
        future.result(30)
    return topic


def run(args: argparse.Namespace) -> list[Stamps]:
    topic = _topic(args.bootstrap)
    polled: dict[tuple[int, int], tuple[float, float]] = {}
    fetch = poll_batch

    def recording_fetch(client: Any, timeout: float, limit: int, busy: Any = None) -> Any:
        messages = fetch(client, timeout, limit, None if args.linger == "always" else busy)
        now = time.time()
        for message in messages:
            key = (message.partition() or 0, message.offset() or 0)
            polled[key] = (now, message.timestamp()[1] / 1e3)
        return messages

    # The listener calls the poll_batch it imported: replace that name, for this process.
    setattr(listener_module, "poll_batch", recording_fetch)  # noqa: B010
    stamps: list[Stamps] = []

    class Timed(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            began = time.time()
            for message in messages:
                started = time.time()
                time.sleep(0.001)
                sent = sent_at(message.value)
                seen = polled.pop((message.partition, message.offset), None)
                if sent is not None and seen is not None:
                    stamps.append(Stamps(sent, seen[1], seen[0], began, started, time.time()))

    app = parafka.App(
        kafka={"bootstrap.servers": args.bootstrap},
        group_id=unique("stages-group"),
        concurrency=args.concurrency,
        max_messages=args.max_messages,
        log_events=False,
    )
    app.topic(topic, Timed, deserializer=parafka.raw_deserializer)
    app.start()
    try:
        time.sleep(4.0)  # the group forms before the stream starts
        before = resource.getrusage(resource.RUSAGE_SELF)
        subprocess.run(
            [
                sys.executable,
                "-c",
                _PRODUCER,
                args.bootstrap,
                topic,
                str(args.rate),
                str(args.seconds),
            ],
            check=True,
            cwd=ROOT,
        )
        time.sleep(1.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        app.stop()
        setattr(listener_module, "poll_batch", fetch)  # noqa: B010
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"CPU {cpu / max(1, len(stamps)) * 1e6:.1f} us per message (this process)")
    return stamps


_PRODUCER = """
import sys
from bench.workloads import _PacedProducer
bootstrap, topic, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
producer = _PacedProducer(bootstrap, topic, 10, rate, int(rate * seconds))
producer.go.set()
producer.start()
producer.join()
print(f"producer fell behind its schedule by at most {producer.max_lag * 1e3:.1f} ms")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--rate", type=float, default=4500.0, help="messages a second")
    parser.add_argument("--max-messages", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--linger",
        choices=("busy", "always"),
        default="busy",
        help="busy: parafka's rule (linger only while every worker is busy); always: every fetch",
    )
    args = parser.parse_args(argv)
    stamps = run(args)
    print(f"rate {args.rate:,.0f} msg/s, max_messages {args.max_messages}, linger {args.linger}")
    print("\n".join(report(stamps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
