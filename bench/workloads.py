"""The suite's workloads: each fills its topics, runs its contenders, and returns entries.

Everything here runs on the benchmark's main thread (the latency workload adds one producer
thread while its contender runs). A contender runs in a process of its own
(:func:`bench.contenders.runner.run_contender`), one at a time, so they never compete for the
two cores with each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import Producer

from bench.contenders.catalog import traits
from bench.contenders.common import Outcome, Spec, stamp_value
from bench.contenders.runner import run_contender
from bench.kafka import fill_keyed_topic, fill_topic, unique
from parafka.connection.client import DEFAULTS as CLIENT_DEFAULTS
from parafka.testing import create_topic

__all__ = ["PEERS", "WORKLOADS", "Context", "Entry"]

PEERS = ("peer_arroyo", "peer_faststream", "peer_faust", "peer_quix")
VALUE = 100  # bytes, every workload but memory
SLEEP_MS = 1.0


@dataclass(frozen=True)
class Context:
    """What every workload is given."""

    bootstrap: str
    quick: bool
    peers: tuple[str, ...]
    sleep_cost: float  # L: seconds one time.sleep(0.001) really takes, measured in this run
    echo: Callable[[str], None]
    kafka: dict[str, str] = field(default_factory=dict)  # for parafka, bare and naive

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full


@dataclass(frozen=True)
class Entry:
    """One contender's run of one workload at one level."""

    workload: str
    level: int  # concurrency (lanes for the hot partition; 0 where it does not apply)
    name: str  # as shown in the tables
    contender: str  # the module
    outcome: Outcome
    messages: int
    ideal: float | None = None  # messages/s
    efficiency: float | None = None  # throughput / ideal
    ratio: float | None = None  # throughput / the workload's baseline
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return measured_throughput(self.outcome)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["throughput"] = self.throughput
        return document


def measured_throughput(outcome: Outcome) -> float:
    """The outcome's throughput; for a run that timed out, what it processed until then."""
    if outcome.finished:
        return outcome.throughput
    lasts = [p["last"] for p in outcome.partitions.values()]
    if not lasts or not outcome.processed:
        return 0.0
    span = max(lasts) - outcome.began
    return outcome.processed / span if span > 0 else 0.0


def _spec(ctx: Context, contender: str, topic: str, partitions: int, **kw: Any) -> Spec:
    options = dict(kw.pop("options", {}))
    if contender in ("bare", "naive"):
        # The same librdkafka settings parafka starts from, so that only the framework differs
        # (librdkafka's own fetch.queue.backoff.ms of 1 s alone cut the bare loop to a sixth).
        options["kafka"] = {**CLIENT_DEFAULTS, **ctx.kafka}
    elif contender == "parafka_app" and ctx.kafka:
        options["kafka"] = ctx.kafka
    return Spec(
        contender=contender,
        bootstrap=ctx.bootstrap,
        topic=topic,
        group=unique(f"g-{contender}"),
        partitions=partitions,
        options=options,
        **kw,
    )


def _run(
    ctx: Context, spec: Spec, label: str, name: str, on_first: Callable[[], None] | None = None
) -> Outcome:
    outcome = run_contender(spec, label, on_first)
    state = "ok" if outcome.finished else f"FAILED ({outcome.error})"
    ctx.echo(
        f"  {label:>8} {name:<44} c={spec.concurrency:<3} {measured_throughput(outcome):>11,.0f}"
        f" msg/s  cpu {outcome.cpu_us_per_message:7.1f} us/msg  rss {outcome.peak_rss_mb:6.1f}"
        f" MB  {state}"
    )
    return outcome


def _even(total: int, partitions: int) -> dict[int, int]:
    return {
        p: total // partitions + (1 if p < total % partitions else 0) for p in range(partitions)
    }


def _unsupported(workload: str, level: int, name: str, contender: str, why: str) -> Entry:
    outcome = Outcome.empty(contender, unsupported=why)
    return Entry(workload, level, name, contender, outcome, 0, note=why)


# --- overhead -----------------------------------------------------------------------------------

OVERHEAD_PARTITIONS = 10
OVERHEAD_CONCURRENCY = 4
PEER_MESSAGES = 100_000
PEER_MESSAGES_QUICK = 20_000


def overhead(ctx: Context) -> list[Entry]:
    """No-op processing of ~1M small messages over 10 partitions; ratio to the bare loop.

    The bare loop and parafka alternate (3 runs each, 1 with --quick; the median counts);
    the others run once. Every contender reads the same topic with a group of its own.
    """
    messages = 200_000 if ctx.quick else 1_000_000
    repeats = 1 if ctx.quick else 3
    topic, _ = fill_topic(ctx.bootstrap, "overhead", OVERHEAD_PARTITIONS, messages, VALUE)
    expected = _even(messages, OVERHEAD_PARTITIONS)
    ctx.echo(f"overhead: {messages:,} x {VALUE} B over {OVERHEAD_PARTITIONS} partitions")
    runs: dict[str, list[Outcome]] = {"bare": [], "parafka_app": []}
    for _ in range(repeats):
        for contender in ("bare", "parafka_app"):
            c = 1 if contender == "bare" else OVERHEAD_CONCURRENCY
            spec = _spec(
                ctx,
                contender,
                topic,
                OVERHEAD_PARTITIONS,
                concurrency=c,
                expected=expected,
                options={"max_messages": 500},
            )
            runs[contender].append(_run(ctx, spec, "overhead", traits(contender).label))
    entries = [
        _median_entry("overhead", contender, outcomes, messages)
        for contender, outcomes in runs.items()
    ]
    # The peers run at 1-100 thousand messages a second: a million would take them up to ten
    # minutes each, so they (and the naive pool) read a smaller topic of PEER_MESSAGES.
    small_topic, small = topic, messages
    peer_messages = PEER_MESSAGES_QUICK if ctx.quick else PEER_MESSAGES
    if messages > peer_messages:
        small = peer_messages
        small_topic, _ = fill_topic(
            ctx.bootstrap, "overhead-small", OVERHEAD_PARTITIONS, small, VALUE
        )
    for contender in ("naive", *ctx.peers):
        spec = _spec(
            ctx,
            contender,
            small_topic,
            OVERHEAD_PARTITIONS,
            concurrency=OVERHEAD_CONCURRENCY,
            expected=_even(small, OVERHEAD_PARTITIONS),
        )
        outcome = _run(ctx, spec, "overhead", traits(contender).label)
        note = f"{small:,} messages" if small != messages else None
        label = traits(contender).label
        entries.append(
            Entry("overhead", OVERHEAD_CONCURRENCY, label, contender, outcome, small, note=note)
        )
    bare = entries[0].throughput
    return [
        Entry(**{**_fields(e), "ratio": e.throughput / bare if bare else None}) for e in entries
    ]


def _median_entry(workload: str, contender: str, outcomes: list[Outcome], messages: int) -> Entry:
    ordered = sorted(outcomes, key=measured_throughput)
    middle = ordered[len(ordered) // 2]
    level = 1 if contender == "bare" else OVERHEAD_CONCURRENCY
    runs = [round(measured_throughput(o)) for o in outcomes]
    return Entry(
        workload,
        level,
        traits(contender).label,
        contender,
        middle,
        messages,
        note=f"median of {len(outcomes)}",
        extra={"runs": runs},
    )


def _fields(entry: Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in Entry.__dataclass_fields__}


# --- IO-bound ------------------------------------------------------------------------------------

IO_PARTITIONS = 50
IO_LEVELS = (1, 5, 10, 25, 50)
IO_LEVELS_QUICK = (1, 50)


def io_bound(ctx: Context) -> list[Entry]:
    """1 ms of IO per message over 50 partitions at each concurrency; efficiency = measured /
    (c / L). Each level has its own topic sized to last ``seconds`` at the ideal rate."""
    seconds = ctx.seconds(6.0, 1.5)
    levels = IO_LEVELS_QUICK if ctx.quick else IO_LEVELS
    contenders = ("sleep_pool", "parafka_app", "naive", *ctx.peers)
    entries: list[Entry] = []
    for level in levels:
        ideal = level / ctx.sleep_cost
        messages = max(IO_PARTITIONS * 2, round(ideal * seconds / IO_PARTITIONS) * IO_PARTITIONS)
        topic, _ = fill_topic(ctx.bootstrap, f"io-{level}", IO_PARTITIONS, messages, VALUE)
        ctx.echo(f"io-bound c={level}: {messages:,} messages, ideal {ideal:,.0f} msg/s")
        for contender in contenders:
            entries.append(
                _scaled(
                    ctx,
                    "io",
                    contender,
                    topic,
                    IO_PARTITIONS,
                    level,
                    messages,
                    ideal,
                    _even(messages, IO_PARTITIONS),
                )
            )
    return entries


def _scaled(
    ctx: Context,
    workload: str,
    contender: str,
    topic: str,
    partitions: int,
    level: int,
    messages: int,
    ideal: float,
    expected: dict[int, int],
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> Entry:
    info = traits(contender)
    name = name or info.label
    if level > 1 and not info.in_process_parallelism:
        return _unsupported(
            workload, level, name, contender, "no in-process parallelism (scales by processes)"
        )
    spec = _spec(
        ctx,
        contender,
        topic,
        partitions,
        concurrency=level,
        expected=expected,
        cost_ms=SLEEP_MS,
        options={"max_messages": 10, **(options or {})},
    )
    outcome = _run(ctx, spec, workload, name)
    throughput = measured_throughput(outcome)
    note = None if outcome.finished else outcome.error
    return Entry(
        workload,
        level,
        name,
        contender,
        outcome,
        messages,
        ideal=ideal,
        efficiency=throughput / ideal,
        note=note,
    )


# --- one hot partition ---------------------------------------------------------------------------

HOT_KEYS = 1000
HOT_LEVELS = (1, 5, 10, 25)
HOT_LEVELS_QUICK = (25,)


def hot_partition(ctx: Context) -> list[Entry]:
    """One partition, 1,000 keys, 1 ms of IO each; parafka splits it into ``c`` virtual
    partitions (both distributions); the peers use their own parallelism, if any, inside it."""
    seconds = ctx.seconds(6.0, 1.5)
    levels = HOT_LEVELS_QUICK if ctx.quick else HOT_LEVELS
    entries: list[Entry] = []
    for level in levels:
        ideal = level / ctx.sleep_cost
        messages = max(HOT_KEYS, round(ideal * seconds / HOT_KEYS) * HOT_KEYS)
        topic, _ = fill_keyed_topic(ctx.bootstrap, f"hot-{level}", messages, HOT_KEYS, VALUE)
        ctx.echo(f"hot partition, {level} lanes: {messages:,} messages, ideal {ideal:,.0f}")
        expected = {0: messages}
        for distribution in ("consistent", "balanced"):
            entries.append(
                _scaled(
                    ctx,
                    "hot",
                    "parafka_app",
                    topic,
                    1,
                    level,
                    messages,
                    ideal,
                    expected,
                    name=f"parafka VP {distribution}",
                    options={"virtual_partitions": level, "distribution": distribution},
                )
            )
        for contender in ("naive", *ctx.peers):
            info = traits(contender)
            if level > 1 and info.in_process_parallelism and not info.per_key_parallelism:
                entries.append(
                    _unsupported(
                        "hot", level, info.label, contender, "no parallelism inside a partition"
                    )
                )
                continue
            entries.append(
                _scaled(ctx, "hot", contender, topic, 1, level, messages, ideal, expected)
            )
    return entries


# --- skew ----------------------------------------------------------------------------------------

SKEW_PARTITIONS = 10
SKEW_CONCURRENCY = 10
SLOW_MS = 50.0


def skew(ctx: Context) -> list[Entry]:
    """10 partitions at concurrency 10; partition 0 costs 50 ms a message, the others 1 ms.
    The run ends when the nine fast partitions are done; their throughput is compared with
    their ideal, 9 / L. Partition 0 holds enough to stay busy for twice as long."""
    seconds = ctx.seconds(6.0, 2.0)
    fast = round(seconds / ctx.sleep_cost)
    slow = round(2 * seconds / (SLOW_MS / 1000.0))
    topic = unique("skew")
    create_topic(ctx.bootstrap, topic, SKEW_PARTITIONS)
    counts = {0: slow, **{p: fast for p in range(1, SKEW_PARTITIONS)}}
    _produce_counts(ctx.bootstrap, topic, counts)
    ideal = (SKEW_PARTITIONS - 1) / ctx.sleep_cost
    expected = {p: fast for p in range(1, SKEW_PARTITIONS)}
    ctx.echo(f"skew: 9 x {fast:,} fast messages, {slow} slow ones, ideal {ideal:,.0f} msg/s")
    entries = []
    for contender in ("parafka_app", "naive", *ctx.peers):
        info = traits(contender)
        if not info.in_process_parallelism:
            entries.append(
                _unsupported(
                    "skew",
                    SKEW_CONCURRENCY,
                    info.label,
                    contender,
                    "no in-process parallelism (scales by processes)",
                )
            )
            continue
        spec = _spec(
            ctx,
            contender,
            topic,
            SKEW_PARTITIONS,
            concurrency=SKEW_CONCURRENCY,
            expected=expected,
            cost_ms=SLEEP_MS,
            partition_cost_ms={0: SLOW_MS},
            options={"max_messages": 10},
        )
        outcome = _run(ctx, spec, "skew", info.label)
        throughput = measured_throughput(outcome)
        slow_done = int(outcome.partitions.get("0", {}).get("count", 0))
        entries.append(
            Entry(
                "skew",
                SKEW_CONCURRENCY,
                info.label,
                contender,
                outcome,
                9 * fast,
                ideal=ideal,
                efficiency=throughput / ideal,
                note=None if outcome.finished else outcome.error,
                extra={"slow_processed": slow_done},
            )
        )
    return entries


def _produce_counts(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": 1})
    value = b"x" * VALUE
    for partition, count in counts.items():
        for index in range(count):
            while True:
                try:
                    producer.produce(topic, value, f"k{index}".encode(), partition=partition)
                    break
                except BufferError:
                    producer.poll(0.05)
    if producer.flush(120.0):
        raise RuntimeError(f"could not produce the skew workload to {topic}")


# --- latency -------------------------------------------------------------------------------------

LATENCY_PARTITIONS = 10
LATENCY_CONCURRENCY = 10


def latency(ctx: Context, capacities: dict[str, float]) -> list[Entry]:
    """A steady produce rate at half of each contender's capacity (its io-bound throughput at
    concurrency 10 in this run, or 10 / L if that level did not run), 1 ms of IO per message
    over 10 partitions; p50/p99 of send-to-processed time.

    One stamped message per partition is there before the contender starts; the steady rate
    begins when the contender reports that it processed its first message, so neither its
    start-up nor its group join is in the figure, and latencies count from ``warmup`` seconds
    after that."""
    duration = ctx.seconds(20.0, 6.0)
    warmup = 1.0
    _warm_up_live_traffic(ctx, ctx.seconds(20.0, 10.0))
    entries = []
    for contender in ("parafka_app", "naive", *ctx.peers):
        info = traits(contender)
        level = LATENCY_CONCURRENCY if info.in_process_parallelism else 1
        capacity = capacities.get(contender) or level / ctx.sleep_cost
        rate = capacity / 2
        messages = int(rate * duration)
        topic = unique("latency")
        create_topic(ctx.bootstrap, topic, LATENCY_PARTITIONS)
        spec = _spec(
            ctx,
            contender,
            topic,
            LATENCY_PARTITIONS,
            concurrency=level,
            expected={p: n + 1 for p, n in _even(messages, LATENCY_PARTITIONS).items()},
            cost_ms=SLEEP_MS,
            latency=True,
            options={"max_messages": 10, "latency_warmup_s": warmup},
        )
        producer = _PacedProducer(ctx.bootstrap, topic, LATENCY_PARTITIONS, rate, messages)
        producer.seed()
        producer.start()
        try:
            outcome = _run(ctx, spec, "latency", info.label, on_first=producer.go.set)
        finally:
            producer.stop()
        entries.append(
            Entry(
                "latency",
                level,
                info.label,
                contender,
                outcome,
                messages,
                note=None if outcome.finished else outcome.error,
                extra={
                    "rate": rate,
                    "capacity": capacity,
                    "produce_lag_ms": producer.max_lag * 1000,
                },
            )
        )
    return entries


def _warm_up_live_traffic(ctx: Context, seconds: float) -> None:
    """Untimed: the naive pool reads a steady stream at the workload's rate for ``seconds``.

    A broker that has not served small live produce and fetch requests for long (its JVM has
    not compiled that path) answers them slowly at first: without this, whichever contender ran
    first had seconds of latency that the next ones did not (seen on a fresh broker: p50 3.3 s,
    then 0.6 s, then 7 ms for the same contender)."""
    rate = LATENCY_CONCURRENCY / ctx.sleep_cost / 2
    messages = int(rate * seconds)
    topic = unique("latency-warm-up")
    create_topic(ctx.bootstrap, topic, LATENCY_PARTITIONS)
    spec = _spec(
        ctx,
        "naive",
        topic,
        LATENCY_PARTITIONS,
        concurrency=LATENCY_CONCURRENCY,
        expected={p: n + 1 for p, n in _even(messages, LATENCY_PARTITIONS).items()},
        cost_ms=SLEEP_MS,
        latency=True,
    )
    producer = _PacedProducer(ctx.bootstrap, topic, LATENCY_PARTITIONS, rate, messages)
    producer.seed()
    producer.start()
    try:
        _run(ctx, spec, "latency", "warm-up (not reported)", on_first=producer.go.set)
    finally:
        producer.stop()


class _PacedProducer(threading.Thread):
    """Produces ``messages`` stamped values round-robin at ``rate`` per second, from when
    ``go`` is set (:meth:`seed` first puts one in each partition, on the caller's thread).

    Runs on its own thread; ``max_lag`` (how far behind its schedule it ever fell) is written
    by it and read after :meth:`stop`.
    """

    def __init__(
        self, bootstrap: str, topic: str, partitions: int, rate: float, messages: int
    ) -> None:
        super().__init__(name="bench-paced-producer", daemon=True)
        # Idempotent, as parafka's own producer is: the broker's producer-id coordinator (its
        # __transaction_state topic) is then loaded during the warm-up, not during a run.
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True}
        )
        self._topic, self._partitions = topic, partitions
        self._interval, self._messages = 1.0 / rate, messages
        self._stopping = threading.Event()
        self.go = threading.Event()
        self.max_lag = 0.0

    def seed(self) -> None:
        for partition in range(self._partitions):
            self._producer.produce(self._topic, stamp_value(VALUE), partition=partition)
        if self._producer.flush(30.0):
            raise RuntimeError(f"could not seed {self._topic}")

    def run(self) -> None:
        while not self.go.wait(0.1):
            if self._stopping.is_set():
                return
        began = time.monotonic()
        for index in range(self._messages):
            due = began + index * self._interval
            now = time.monotonic()
            if due > now:
                if self._stopping.wait(due - now):
                    return
            else:
                self.max_lag = max(self.max_lag, now - due)
            self._producer.produce(
                self._topic, stamp_value(VALUE), partition=index % self._partitions
            )
            self._producer.poll(0)
        self._producer.flush(30.0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(60.0)


# --- memory --------------------------------------------------------------------------------------

MEMORY_PARTITIONS = 10
MEMORY_VALUE = 100_000
MEMORY_COST_MS = 20.0


def memory(ctx: Context) -> list[Entry]:
    """A backlog of 100 KB messages (300 a partition, 120 with --quick) processed
    slowly (20 ms each, concurrency 10); the run ends after 100 a partition, with most of the
    backlog still unread; peak RSS (VmHWM) of each contender is the figure."""
    per_partition = 120 if ctx.quick else 300
    expected_each = 40 if ctx.quick else 100
    messages = per_partition * MEMORY_PARTITIONS
    topic, _ = fill_topic(ctx.bootstrap, "memory", MEMORY_PARTITIONS, messages, MEMORY_VALUE)
    ctx.echo(f"memory: {messages:,} x 100 KB = {messages * MEMORY_VALUE / 1e6:,.0f} MB backlog")
    entries = []
    for contender in ("parafka_app", "bare", "naive", *ctx.peers):
        info = traits(contender)
        level = 1 if contender == "bare" or not info.in_process_parallelism else 10
        spec = _spec(
            ctx,
            contender,
            topic,
            MEMORY_PARTITIONS,
            concurrency=level,
            expected={p: expected_each for p in range(MEMORY_PARTITIONS)},
            cost_ms=MEMORY_COST_MS,
            options={"max_messages": 10},
        )
        outcome = _run(ctx, spec, "memory", info.label)
        entries.append(
            Entry(
                "memory",
                level,
                info.label,
                contender,
                outcome,
                expected_each * MEMORY_PARTITIONS,
                note=None if outcome.finished else outcome.error,
            )
        )
    return entries


WORKLOADS: Sequence[str] = ("overhead", "io", "hot", "skew", "latency", "memory")
