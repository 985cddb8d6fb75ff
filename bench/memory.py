"""Where the memory workload's resident memory goes, sampled over time.

``python -m bench.memory --bootstrap HOST:PORT [--budget-mib 64] [--kafka KEY=VALUE ...]
[--seconds 16]``

The memory workload's shape (1,000 partitions, 6,000 messages of 100 KB, 20 ms of work each,
10 workers, ``App(max_buffered_bytes=...)``) on a fresh topic, filled by another process so
that the producer's buffers are not in the figures. Every 10 ms it samples the process's RSS
beside parafka's own count (``app.buffered_bytes``); every 500 ms librdkafka's statistics give
its prefetch queue (``fetchq_size``; with the high-level consumer every partition reports the
one queue, so the largest is taken). It prints a line a second, then the peak RSS, the RSS at
the end (with nothing held: what the allocator kept), and the budget as parafka split it.
``--kafka queued.max.messages.kbytes=4096`` and the like set librdkafka's buffers instead of
parafka's sizes. Thread ownership: the main thread drives and prints; a sampler thread reads
``/proc/self/status`` and the app's count; ``stats_cb`` runs on the listener thread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

import parafka
from bench.contenders.venvs import ROOT
from bench.kafka import unique

PARTITIONS = 1000
MESSAGES = 6000
VALUE = 100_000
MIB = 1024 * 1024


def rss_mib() -> tuple[int, int]:
    """This process's (current, peak) resident memory in MiB."""
    current = peak = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) // 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) // 1024
    return current, peak


def queue_bytes(statistics: dict[str, Any]) -> int:
    """librdkafka's prefetch queue in bytes, from one statistics document."""
    sizes = [
        partition.get("fetchq_size", 0)
        for topic in statistics.get("topics", {}).values()
        for partition in topic.get("partitions", {}).values()
    ]
    return int(max([0, *sizes]))


def _setting(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key, int(value) if value.isdigit() else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--budget-mib", type=int, default=64)
    parser.add_argument("--kafka", action="append", default=[], type=_setting)
    parser.add_argument("--seconds", type=float, default=16.0)
    args = parser.parse_args(argv)
    topic = subprocess.run(
        [sys.executable, "-c", _FILL, args.bootstrap],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    prefetch = [0]

    def on_stats(text: str) -> None:
        prefetch[0] = queue_bytes(json.loads(text))

    done = [0]

    class Slow(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for _message in messages:
                time.sleep(0.02)
                done[0] += 1

    app = parafka.App(
        kafka={
            "bootstrap.servers": args.bootstrap,
            "stats_cb": on_stats,
            "statistics.interval.ms": 500,
            **dict(args.kafka),
        },
        group_id=unique("memory-group"),
        concurrency=10,
        max_buffered_bytes=args.budget_mib * MIB,
        log_events=False,
    )
    app.topic(topic, Slow, deserializer=parafka.raw_deserializer)
    samples: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            samples.append((time.monotonic(), rss_mib()[0], (app.buffered_bytes or 0) // MIB))

    began = time.monotonic()
    app.start()
    sampler = threading.Thread(target=sample, name="bench-memory-sampler", daemon=True)
    sampler.start()
    try:
        while time.monotonic() - began < args.seconds:
            time.sleep(1.0)
            rss, _peak = rss_mib()
            print(
                f"{time.monotonic() - began:5.1f} s  rss {rss} MiB  parafka's count "
                f"{(app.buffered_bytes or 0) // MIB} MiB  librdkafka's queue "
                f"{prefetch[0] // MIB} MiB  processed {done[0]:,}",
                flush=True,
            )
        diagnostics = app.diagnostics()
    finally:
        stop.set()
        app.stop()
    sampler.join(5)
    rss, peak = rss_mib()
    budget = next(line for line in diagnostics.splitlines() if "memory:" in line).strip()
    top = max(samples, key=lambda s: s[1]) if samples else (began, 0, 0)
    print(f"peak RSS {peak} MiB (sampled peak {top[1]} MiB, parafka's count then {top[2]} MiB)")
    print(f"RSS at the end, nothing held: {rss} MiB")
    print(budget)
    return 0


_FILL = f"""
import sys
from bench.kafka import fill_topic
print(fill_topic(sys.argv[1], "memory-stages", {PARTITIONS}, {MESSAGES}, {VALUE})[0])
"""


if __name__ == "__main__":
    sys.exit(main())
