"""``python -m bench`` (``make bench``): parafka against the bare client and the Python peers.

Starts its own local broker (``bench-<pid>``; brokers left by killed runs are removed first),
builds the peers' virtualenvs if needed, measures ``L`` (what one ``time.sleep(0.001)`` really
costs here), calibrates the CPU workloads' work when one of them runs (:mod:`bench.calibration`),
runs the workloads one contender at a time, evaluates the goals
(:mod:`bench.goals`), writes ``bench/results/suite-<UTC stamp>.json`` (and ``suite-latest.json``),
the Markdown tables (goals first) and one PNG plot per workload under
``bench/results/suite-<stamp>/``, prints the tables and then the goals, and removes the broker at
the end, also on errors and Ctrl-C. ``--publish`` also copies the tables and plots to
``docs/benchmarks/`` for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import confluent_kafka

import parafka
from bench import cpu, workloads
from bench.calibration import Calibration, calibrate
from bench.contenders.catalog import traits
from bench.contenders.venvs import interpreter
from bench.goals import GoalRow, evaluate
from bench.kafka import warm_up_broker
from bench.present import goals_markdown, goals_text, markdown, plot, text
from bench.workloads import PEERS, WORKLOADS, Context, Entry
from parafka.broker import LocalBroker

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
_PREFIX = "bench-"
SLEEP_SAMPLES = 2000


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="parafka against the bare confluent-kafka client and the Python peers.",
    )
    parser.add_argument("--quick", action="store_true", help="Small sizes: under 5 minutes.")
    parser.add_argument(
        "--only", default="", help=f"Comma-separated workloads (of {', '.join(WORKLOADS)})."
    )
    parser.add_argument(
        "--peers",
        default=",".join(p.removeprefix("peer_") for p in PEERS),
        help="Comma-separated peers to run (arroyo,faststream,faust,quix); '' for none.",
    )
    parser.add_argument(
        "--kafka",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A librdkafka setting for parafka, the bare loop and the naive pool (repeatable).",
    )
    parser.add_argument(
        "--publish", action="store_true", help="Also write the tables and plots to docs/."
    )
    args = parser.parse_args(argv)
    chosen = [w for w in args.only.split(",") if w]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"--only: unknown workload(s) {', '.join(unknown)}")
    args.only = tuple(w for w in WORKLOADS if not chosen or w in chosen)
    peers = [p for p in args.peers.split(",") if p]
    bad = sorted({f"peer_{p}" for p in peers} - set(PEERS))
    if bad:
        parser.error(f"--peers: unknown peer(s) {', '.join(b.removeprefix('peer_') for b in bad)}")
    args.peers = tuple(f"peer_{p}" for p in peers)
    kafka = {}
    for item in args.kafka:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--kafka {item!r} is not KEY=VALUE")
        kafka[key.strip()] = value.strip()
    args.kafka = kafka
    return args


def measure_sleep(samples: int) -> float:
    """Mean wall time of one ``time.sleep(0.001)`` (loop included), in seconds."""
    began = time.perf_counter()
    for _ in range(samples):
        time.sleep(0.001)
    return (time.perf_counter() - began) / samples


def reap_orphans() -> None:
    """Remove ``bench-<pid>`` brokers whose benchmark process no longer exists."""
    for info in LocalBroker.all():
        owner = info.name.removeprefix(_PREFIX)
        if (
            info.name.startswith(_PREFIX)
            and owner.isdigit()
            and not Path(f"/proc/{owner}").exists()
        ):
            LocalBroker(info.name).remove()


def environment(kafka_version: str, peers: Sequence[str]) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "parafka": parafka.__version__,
        "confluent_kafka": metadata.version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "kafka": kafka_version,
        "peers": {p: traits(p).label for p in peers},
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _echo(line: str) -> None:
    print(line, flush=True)


@dataclass
class Run:
    """What :func:`run` measured."""

    sleep_cost: float
    calibration: Calibration | None = None  # the CPU work's, when a CPU workload ran
    results: dict[str, list[Entry]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each workload


def run(args: argparse.Namespace, bootstrap: str) -> Run:
    for peer in args.peers:
        interpreter(peer)  # build the virtualenvs before anything is timed
    warm_up_broker(bootstrap)
    sleep_cost = measure_sleep(SLEEP_SAMPLES)
    _echo(f"L = {sleep_cost * 1000:.3f} ms per time.sleep(0.001) ({SLEEP_SAMPLES} samples)")
    calibration = None
    if any(w in CPU_WORKLOADS for w in args.only):
        calibration = calibrate()
        _echo(
            f"CPU work: {calibration.iterations:,} iterations of spin per message, "
            f"{calibration.measured_us:.0f} µs here (target {calibration.target_us:.0f} µs, "
            f"{calibration.ns_per_iteration:.1f} ns per iteration)"
        )
    ctx = Context(bootstrap, args.quick, args.peers, sleep_cost, _echo, args.kafka, calibration)
    done = Run(sleep_cost, calibration)
    for workload in args.only:
        began = time.monotonic()
        if workload == "latency":
            capacities = workloads.capacities(done.results.get("io", []))
            done.results[workload] = workloads.latency(ctx, capacities)
        else:
            done.results[workload] = _FUNCTIONS[workload](ctx)
        done.seconds[workload] = time.monotonic() - began
        _echo(f"{workload}: {done.seconds[workload] / 60:.1f} min")
    return done


_FUNCTIONS: dict[str, Callable[[Context], list[Entry]]] = {
    "overhead": workloads.overhead,
    "io": workloads.io_bound,
    "oversubscribed": workloads.oversubscribed,
    "hot": workloads.hot_partition,
    "skew": workloads.skew,
    "async": workloads.async_io,
    "memory": workloads.memory,
    "cpu_bound": cpu.cpu_bound,
    "mixed": cpu.mixed,
}
CPU_WORKLOADS = ("cpu_bound", "mixed")


def write(
    stamp: str,
    document: dict[str, Any],
    results: dict[str, list[Entry]],
    goals: list[GoalRow],
    header: str,
    publish: bool,
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"suite-{stamp}.json"
    body = json.dumps(document, indent=2) + "\n"
    for path in (target, RESULTS / "suite-latest.json"):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(body)
        os.replace(temporary, path)
    directory = RESULTS / f"suite-{stamp}"
    directory.mkdir(parents=True, exist_ok=True)
    tables = [f"{header}\n", goals_markdown(goals)]
    for workload, entries in results.items():
        image = plot(workload, entries, directory)
        tables.append(markdown(workload, entries))
        if image:
            tables.append(f"![{workload}]({image.name})\n")
    (directory / "results.md").write_text("\n".join(tables))
    if publish:
        DOCS.mkdir(parents=True, exist_ok=True)
        for item in directory.iterdir():
            shutil.copy2(item, DOCS / item.name)
        shutil.copy2(target, DOCS / "results.json")
    return directory


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    began = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    reap_orphans()
    broker = LocalBroker(f"{_PREFIX}{os.getpid()}")
    try:
        # Kafka's default initial rebalance delay (the project's brokers use 0 for quick
        # tests): members starting together (a swarm's nodes, FastStream's workers) form the
        # group's first generation together, as on a production broker, instead of one taking
        # every partition until a rebalance a heartbeat later.
        info = broker.start(overrides={"group.initial.rebalance.delay.ms": "3000"})
        _echo(f"broker {broker.name}: Kafka {info.kafka_version} at {info.bootstrap}")
        measured = run(args, info.bootstrap)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        broker.remove()
        _echo(f"removed broker {broker.name}")
    sleep_cost, results = measured.sleep_cost, measured.results
    goals = evaluate(results)
    env = environment(info.kafka_version, args.peers)
    took = time.monotonic() - began
    header = (
        f"parafka benchmark suite {stamp}{' (--quick)' if args.quick else ''}: "
        f"{env['cpus']} CPUs, Python {env['python']}, confluent-kafka {env['confluent_kafka']} "
        f"(librdkafka {env['librdkafka']}), Kafka {env['kafka']}, L = "
        f"{sleep_cost * 1000:.3f} ms"
        + (
            ""
            if measured.calibration is None
            else f", CPU work {measured.calibration.iterations:,} iterations = "
            f"{measured.calibration.measured_us:.0f} µs"
        )
        + f"; whole run {took / 60:.1f} min"
    )
    document = {
        "benchmark": "suite",
        "started_at": stamp,
        "seconds": round(took, 1),
        "quick": args.quick,
        "kafka": args.kafka,
        "sleep_cost": sleep_cost,
        "cpu_calibration": None if measured.calibration is None else measured.calibration.to_json(),
        "environment": env,
        "workload_seconds": {w: round(t, 1) for w, t in measured.seconds.items()},
        "goals": [row.to_json() for row in goals],
        "results": {w: [e.to_json() for e in entries] for w, entries in results.items()},
    }
    directory = write(stamp, document, results, goals, header, args.publish)
    print()
    print(header)
    for workload, entries in results.items():
        print()
        print(text(workload, entries))
    print()
    print(goals_text(goals))
    print(f"\nresults: {RESULTS / f'suite-{stamp}.json'}; tables and plots: {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
