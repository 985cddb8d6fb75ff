"""``python -m bench.engine`` (``make bench``): the engine's throughput benchmarks.

Starts its own local broker (``bench-<pid>``; brokers left by killed runs are removed first),
produces the data, runs the workloads, writes ``bench/results/engine-<UTC stamp>.json`` and
``engine-latest.json``, prints a table, and removes the broker at the end, also on errors and
Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import confluent_kafka

import parafka
from bench.io_scaling import LEVELS, IoScalingResult, run_io_scaling
from bench.overhead import OverheadResult, run_overhead
from bench.report import render, write_results
from bench.vp import LEVELS as VP_LEVELS
from bench.vp import VpResult, run_vp
from parafka.broker import LocalBroker
from parafka.processing.virtual import Distribution

_PREFIX = "bench-"


@dataclass(frozen=True)
class Options:
    only: str | None
    messages: int
    concurrency: int
    repeats: int
    io_seconds: float
    io_max_messages: int
    sleep_samples: int
    levels: tuple[int, ...]
    vp_levels: tuple[int, ...]
    vp_distribution: Distribution
    vp_restart_messages: int
    kafka: dict[str, str]
    quick: bool


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine", description="Benchmark parafka's processing engine."
    )
    parser.add_argument(
        "--only", choices=["overhead", "io-scaling", "vp"], help="Run one workload."
    )
    parser.add_argument(
        "--messages", type=int, help="overhead: messages in the topic (default 1,000,000)."
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="overhead: parafka's workers (default 4)."
    )
    parser.add_argument("--repeats", type=int, default=3, help="overhead: runs of each kind.")
    parser.add_argument(
        "--io-seconds",
        type=float,
        help="io-scaling and vp: seconds per level at the ideal rate (6; --quick 0.7).",
    )
    parser.add_argument(
        "--io-max-messages", type=int, default=10, help="io-scaling and vp: App max_messages (10)."
    )
    parser.add_argument(
        "--levels",
        default=",".join(map(str, LEVELS)),
        help="io-scaling: concurrency levels, comma-separated (1,5,10,25,50).",
    )
    parser.add_argument(
        "--vp-levels",
        default=",".join(map(str, VP_LEVELS)),
        help="vp: concurrency (= max_partitions) levels, comma-separated (1,5,10,25).",
    )
    parser.add_argument(
        "--vp-distribution",
        choices=["consistent", "balanced"],
        default="consistent",
        help="vp: VirtualPartitions(distribution=...) (consistent, the library default).",
    )
    parser.add_argument(
        "--kafka",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A librdkafka consumer setting for every run, bare and parafka (repeatable).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Small sizes (vp-restart: 5,000 messages, not 20,000): a run of under a minute.",
    )
    args = parser.parse_args(argv)
    kafka = {}
    for item in args.kafka:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--kafka {item!r} is not KEY=VALUE")
        kafka[key.strip()] = value.strip()
    try:
        levels = tuple(int(level) for level in args.levels.split(","))
        vp_levels = tuple(int(level) for level in args.vp_levels.split(","))
    except ValueError:
        parser.error("--levels and --vp-levels take comma-separated lists of integers")
    quick = bool(args.quick)
    options = Options(
        only=args.only,
        messages=args.messages or (50_000 if quick else 1_000_000),
        concurrency=args.concurrency,
        repeats=args.repeats,
        io_seconds=args.io_seconds or (0.7 if quick else 6.0),
        io_max_messages=args.io_max_messages,
        sleep_samples=300 if quick else 2000,
        levels=levels,
        vp_levels=vp_levels,
        vp_distribution="balanced" if args.vp_distribution == "balanced" else "consistent",
        vp_restart_messages=5_000 if quick else 20_000,
        kafka=kafka,
        quick=quick,
    )
    for name in ("messages", "concurrency", "repeats", "io_max_messages"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if min(options.levels) < 1 or min(options.vp_levels) < 1:
        parser.error("--levels and --vp-levels must all be >= 1")
    if options.io_seconds <= 0:
        parser.error("--io-seconds must be > 0")
    return options


def reap_orphans() -> None:
    """Remove ``bench-<pid>`` brokers whose benchmark process no longer exists."""
    for info in LocalBroker.all():
        owner = info.name.removeprefix(_PREFIX)
        ours = info.name.startswith(_PREFIX) and owner.isdigit()
        if ours and not Path(f"/proc/{owner}").exists():
            LocalBroker(info.name).remove()


def environment(kafka_version: str) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "parafka": parafka.__version__,
        "confluent_kafka": metadata.version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "kafka": kafka_version,
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    began = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    reap_orphans()
    broker = LocalBroker(f"{_PREFIX}{os.getpid()}")
    overhead: OverheadResult | None = None
    io_scaling: IoScalingResult | None = None
    vp: VpResult | None = None
    try:
        info = broker.start()
        print(f"broker {broker.name}: Kafka {info.kafka_version} at {info.bootstrap}", flush=True)
        if options.only in (None, "overhead"):
            overhead = run_overhead(
                info.bootstrap,
                options.messages,
                options.concurrency,
                options.repeats,
                kafka=options.kafka,
                echo=_echo,
            )
        if options.only in (None, "io-scaling"):
            io_scaling = run_io_scaling(
                info.bootstrap,
                seconds=options.io_seconds,
                max_messages=options.io_max_messages,
                sleep_samples=options.sleep_samples,
                levels=options.levels,
                kafka=options.kafka,
                echo=_echo,
            )
        if options.only in (None, "vp"):
            vp = run_vp(
                info.bootstrap,
                seconds=options.io_seconds,
                max_messages=options.io_max_messages,
                levels=options.vp_levels,
                restart_messages=options.vp_restart_messages,
                distribution=options.vp_distribution,
                sleep_cost=io_scaling.sleep_cost if io_scaling else None,  # one L per run
                sleep_samples=options.sleep_samples,
                kafka=options.kafka,
                echo=_echo,
            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        broker.remove()
        print(f"removed broker {broker.name}", flush=True)
    env = environment(info.kafka_version)
    took = time.monotonic() - began
    document = {
        "benchmark": "engine",
        "started_at": stamp,
        "seconds": round(took, 1),
        "options": asdict(options),
        "environment": env,
        "overhead": overhead.to_json() if overhead else None,
        "io_scaling": io_scaling.to_json() if io_scaling else None,
        "vp": vp.to_json() if vp else None,
    }
    path = write_results(document, stamp)
    header = (
        f"parafka engine benchmark {stamp}{' (--quick)' if options.quick else ''}: "
        f"{env['cpus']} CPUs, Python {env['python']}, confluent-kafka {env['confluent_kafka']} "
        f"(librdkafka {env['librdkafka']}), Kafka {env['kafka']}; whole run {took:.0f} s"
    )
    if options.kafka:
        header += f"\nlibrdkafka settings for every run: {options.kafka}"
    else:
        header += "\nlibrdkafka settings: client defaults (auto.offset.reset=earliest)"
    print()
    print(render(header, overhead, io_scaling, vp))
    print(f"results: {path} and {path.with_name('engine-latest.json').name}")
    return 0


def _echo(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
