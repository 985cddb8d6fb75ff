"""The CPU-bound workloads (issue 17): threads in one process against processes.

- ``cpu_bound``: 20 partitions; every message costs pure-Python CPU work of about 200 µs
  (:func:`bench.contenders.work.spin`, the iteration count calibrated once by the parent,
  :mod:`bench.calibration`), nothing else. In one process the GIL lets one thread run it at a
  time, whatever the concurrency; only processes can use the second core.
- ``mixed``: the same topic shape, half CPU and half IO: the messages at even places of their
  partition do the same CPU work, those at odd places sleep 1 ms (an IO stand-in that releases
  the GIL; ``asyncio.sleep`` for FastStream). Per pair of messages, 200 µs of one core and 1 ms
  of waiting that threads overlap: one process is still bound by its core, but less tightly.

Contenders, one at a time, each reading the whole topic with a group of its own:

- parafka, threads in one process: ``App(concurrency=c)`` (c = 4 for cpu_bound: the GIL runs one
  at a time anyway, 4 lets batches of other partitions queue; c = 20 for mixed: one worker per
  partition, so the sleeps overlap);
- ``parafka swarm --nodes 2``: the same App (the same c) in each of 2 forked nodes, one group;
- arroyo ``RunTaskWithMultiprocessing`` with a pool of 2 processes;
- ``faststream run --workers 2``, 10 consumers per worker (one per partition in all).

parafka's rows read 100,000 messages (30,000 with ``--quick``). The peers read a topic of their
own of 30,000 (10,000), filled the same way: FastStream ran the CPU workload at about 600
messages a second (it commits after each message), arroyo at about 2,500, so the whole topic
would have taken FastStream three minutes a run.

Every value starts with its partition's number and its place in the partition
(:func:`bench.kafka.fill_sequenced_topic` with one key per partition), so each contender reports
whether each partition's order held and how many messages it processed twice; after each run the
group's committed offsets are read, and must reach the end of every partition for a contender
that commits only processed offsets. Each row's ratio is its throughput over the one-process
parafka row's in the same run. Throughput is timed as in every workload, from the first message
that began to the last that ended, so a group join that keeps one process waiting counts; the
note also gives the throughput from the moment every process had begun its first message.
Runs on the benchmark's main thread.
"""

from __future__ import annotations

from typing import Any

from bench.contenders.catalog import traits
from bench.contenders.common import Spec
from bench.kafka import fill_sequenced_topic
from bench.workloads import (
    VALUE,
    Context,
    Entry,
    _even,
    _fields,
    _run,
    _spec,
    _unsupported,
    order_and_commit_notes,
)

__all__ = [
    "CPU_CONCURRENCY",
    "CPU_PARTITIONS",
    "MIXED_CONCURRENCY",
    "MIXED_SLEEP_MS",
    "PROCESSES",
    "cpu_bound",
    "mixed",
    "process_specs",
]

CPU_PARTITIONS = 20
CPU_MESSAGES = 100_000
CPU_MESSAGES_QUICK = 30_000
CPU_PEER_MESSAGES = 30_000
CPU_PEER_MESSAGES_QUICK = 10_000
CPU_CONCURRENCY = 4
MIXED_CONCURRENCY = 20
MIXED_SLEEP_MS = 1.0
PROCESSES = 2
FASTSTREAM_CONSUMERS = 10  # per worker: 2 x 10 = one consumer per partition
#: The peers, by the ``--peers`` name that selects them, and the contender module run here.
PEER_CONTENDERS = {
    "peer_arroyo": "peer_arroyo_multiprocessing",
    "peer_faststream": "peer_faststream_workers",
}


def cpu_bound(ctx: Context) -> list[Entry]:
    """~200 µs of pure-Python CPU work per message, 20 partitions (see the module docstring)."""
    return _workload(ctx, "cpu_bound", mixed=False)


def mixed(ctx: Context) -> list[Entry]:
    """Half the messages ~200 µs of CPU work, half a 1 ms sleep, 20 partitions."""
    return _workload(ctx, "mixed", mixed=True)


def process_specs(
    ctx: Context,
    topics: tuple[str, str],
    sizes: tuple[int, int],
    iterations: int,
    mixed: bool,
) -> list[tuple[str, Spec]]:
    """The rows of one CPU workload, in the order they run: (name, spec). ``topics`` and
    ``sizes``: parafka's topic and the peers', and how many messages each holds. Pure but for
    the unique group names."""
    concurrency = MIXED_CONCURRENCY if mixed else CPU_CONCURRENCY
    topic, peer_topic = topics
    common: dict[str, Any] = {
        "expected": _even(sizes[0], CPU_PARTITIONS),
        "cost_ms": MIXED_SLEEP_MS if mixed else 0.0,
        "cpu_iterations": iterations,
        "mixed": mixed,
        "check_order": True,
    }
    peers = {**common, "expected": _even(sizes[1], CPU_PARTITIONS)}
    parafka = traits("parafka_app").label
    rows: list[tuple[str, Spec]] = [
        (
            f"{parafka}, threads in 1 process",
            _spec(ctx, "parafka_app", topic, CPU_PARTITIONS, concurrency=concurrency, **common),
        ),
        (
            f"{traits('parafka_swarm').label}, {PROCESSES} nodes",
            _spec(
                ctx,
                "parafka_swarm",
                topic,
                CPU_PARTITIONS,
                concurrency=concurrency,
                options={"processes": PROCESSES},
                **common,
            ),
        ),
    ]
    for peer, contender in PEER_CONTENDERS.items():
        if peer not in ctx.peers:
            continue
        faststream = contender == "peer_faststream_workers"
        rows.append(
            (
                f"{traits(contender).label} {PROCESSES}"
                if faststream
                else f"{traits(contender).label}, {PROCESSES} processes",
                _spec(
                    ctx,
                    contender,
                    peer_topic,
                    CPU_PARTITIONS,
                    concurrency=FASTSTREAM_CONSUMERS if faststream else 1,
                    options={"processes": PROCESSES},
                    **peers,
                ),
            )
        )
    return rows


def _workload(ctx: Context, workload: str, mixed: bool) -> list[Entry]:
    if ctx.calibration is None:
        raise RuntimeError(f"the {workload} workload needs the CPU calibration (see bench.suite)")
    iterations = ctx.calibration.iterations
    messages = CPU_MESSAGES_QUICK if ctx.quick else CPU_MESSAGES
    peer_messages = CPU_PEER_MESSAGES_QUICK if ctx.quick else CPU_PEER_MESSAGES
    base = workload.replace("_", "-")
    topic, _ = fill_sequenced_topic(
        ctx.bootstrap, base, CPU_PARTITIONS, messages, CPU_PARTITIONS, VALUE
    )
    peer_topic = topic
    if any(p in ctx.peers for p in PEER_CONTENDERS):
        peer_topic, _ = fill_sequenced_topic(
            ctx.bootstrap, f"{base}-peers", CPU_PARTITIONS, peer_messages, CPU_PARTITIONS, VALUE
        )
    work = (
        f"even places {iterations:,} iterations (~{ctx.calibration.measured_us:.0f} µs), odd "
        f"places {MIXED_SLEEP_MS:g} ms sleep"
        if mixed
        else f"{iterations:,} iterations (~{ctx.calibration.measured_us:.0f} µs) each"
    )
    ctx.echo(
        f"{workload}: {messages:,} messages ({peer_messages:,} for the peers) over "
        f"{CPU_PARTITIONS} partitions, {work}"
    )
    entries = []
    topics, sizes = (topic, peer_topic), (messages, peer_messages)
    for name, spec in process_specs(ctx, topics, sizes, iterations, mixed):
        entries.append(_entry(ctx, workload, name, spec, iterations))
    return with_ratios(entries)


def with_ratios(entries: list[Entry]) -> list[Entry]:
    """Each entry with its throughput over the one-process parafka row's (the first)."""
    base = next((e for e in entries if e.contender == "parafka_app"), None)
    threads = base.throughput if base is not None and base.outcome.finished else 0.0
    return [
        Entry(**{**_fields(e), "ratio": e.throughput / threads if threads else None})
        for e in entries
    ]


def _entry(ctx: Context, workload: str, name: str, spec: Spec, iterations: int) -> Entry:
    info = traits(spec.contender)
    processes = int(spec.options.get("processes", 1))
    outcome = _run(ctx, spec, workload, name)
    if outcome.unsupported:
        return _unsupported(workload, spec.concurrency, name, spec.contender, outcome.unsupported)
    notes, committed = order_and_commit_notes(ctx, spec, outcome, "partition")
    if outcome.redelivered:
        notes.append(f"{outcome.redelivered:,} processed twice")
    if outcome.all_working_after_s is not None and outcome.all_working_throughput is not None:
        notes.append(
            f"all {processes} processes working after {outcome.all_working_after_s:.1f} s: "
            f"{outcome.all_working_throughput:,.0f} msg/s from then"
        )
    if not info.at_least_once:
        notes.append("commits unprocessed offsets")
    if outcome.processes > 1:
        notes.append(f"CPU and RSS of {outcome.processes} processes")
    if not outcome.finished:
        notes.insert(0, outcome.error or "unfinished")
    return Entry(
        workload,
        spec.concurrency,
        name,
        spec.contender,
        outcome,
        spec.total,
        note="; ".join(notes),
        extra={
            "processes": processes,
            "cpu_iterations": iterations,
            "committed": None if committed is None else {str(p): o for p, o in committed.items()},
            "expected": {str(p): n for p, n in spec.expected.items()},
        },
    )
