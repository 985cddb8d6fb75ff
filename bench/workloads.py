"""The suite's workloads: each fills its topics, runs its contenders, and returns entries.

Everything here runs on the benchmark's main thread (the latency workload adds one producer
thread while its contender runs). A contender runs in a process of its own
(:func:`bench.contenders.runner.run_contender`), one at a time, so they never compete for the
two cores with each other.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import Producer

import parafka
from bench.calibration import Calibration
from bench.contenders.catalog import traits
from bench.contenders.common import Outcome, Spec, stamp_value
from bench.contenders.runner import run_contender
from bench.kafka import fill_keyed_topic, fill_sequenced_topic, fill_topic, unique
from parafka.connection.client import DEFAULTS as CLIENT_DEFAULTS
from parafka.testing import committed_offsets, create_topic, produce_messages

__all__ = ["MAX_MESSAGES", "PEERS", "WORKLOADS", "Context", "Entry"]

PEERS = ("peer_arroyo", "peer_faststream", "peer_faust", "peer_quix")
VALUE = 100  # bytes, every workload but memory
SLEEP_MS = 1.0
#: The batch sizes (App max_messages) the parafka rows that depend on it run at: a goal holds
#: only if it holds at each, not at one tuned value. --quick runs the middle one only.
MAX_MESSAGES = (10, 100, 500)
MAX_MESSAGES_QUICK = (100,)


@dataclass(frozen=True)
class Context:
    """What every workload is given."""

    bootstrap: str
    quick: bool
    peers: tuple[str, ...]
    sleep_cost: float  # L: seconds one time.sleep(0.001) really takes, measured in this run
    echo: Callable[[str], None]
    kafka: dict[str, str] = field(default_factory=dict)  # for parafka, bare and naive
    calibration: Calibration | None = None  # the CPU work's, when a CPU workload runs

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The max_messages values parafka's batch-size-dependent rows run at."""
        return MAX_MESSAGES_QUICK if self.quick else MAX_MESSAGES


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
    max_messages: int | None = None  # parafka's App max_messages, where the row depends on it

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
        f"  {label:>8} {name:<52} c={spec.concurrency:<4} {measured_throughput(outcome):>11,.0f}"
        f" msg/s  cpu {outcome.cpu_us_per_message:7.1f} us/msg  rss {outcome.peak_rss_mb:6.1f}"
        f" MB  {state}"
    )
    return outcome


def _even(total: int, partitions: int) -> dict[int, int]:
    return {
        p: total // partitions + (1 if p < total % partitions else 0) for p in range(partitions)
    }


def _parafka_name(max_messages: int | None, base: str | None = None) -> str:
    name = base or traits("parafka_app").label
    return name if max_messages is None else f"{name}, max_messages {max_messages}"


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

    The bare loop and parafka at each max_messages alternate (3 runs each, 1 with --quick; the
    median counts); the others run once. Every contender reads the same topic with a group of
    its own.
    """
    messages = 200_000 if ctx.quick else 1_000_000
    repeats = 1 if ctx.quick else 3
    topic, _ = fill_topic(ctx.bootstrap, "overhead", OVERHEAD_PARTITIONS, messages, VALUE)
    expected = _even(messages, OVERHEAD_PARTITIONS)
    ctx.echo(f"overhead: {messages:,} x {VALUE} B over {OVERHEAD_PARTITIONS} partitions")
    # (contender, max_messages) in the order they alternate
    runs: dict[tuple[str, int | None], list[Outcome]] = {("bare", None): []}
    runs.update({("parafka_app", m): [] for m in ctx.batch_sizes})
    for _ in range(repeats):
        for contender, max_messages in runs:
            c = 1 if contender == "bare" else OVERHEAD_CONCURRENCY
            options = {} if max_messages is None else {"max_messages": max_messages}
            spec = _spec(
                ctx,
                contender,
                topic,
                OVERHEAD_PARTITIONS,
                concurrency=c,
                expected=expected,
                options=options,
            )
            name = traits(contender).label
            if contender == "parafka_app":
                name = _parafka_name(max_messages)
            runs[(contender, max_messages)].append(_run(ctx, spec, "overhead", name))
    entries = [
        _median_entry("overhead", contender, outcomes, messages, max_messages)
        for (contender, max_messages), outcomes in runs.items()
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


def _median_entry(
    workload: str,
    contender: str,
    outcomes: list[Outcome],
    messages: int,
    max_messages: int | None = None,
) -> Entry:
    ordered = sorted(outcomes, key=measured_throughput)
    middle = ordered[len(ordered) // 2]
    level = 1 if contender == "bare" else OVERHEAD_CONCURRENCY
    runs = [round(measured_throughput(o)) for o in outcomes]
    name = traits(contender).label
    if contender == "parafka_app":
        name = _parafka_name(max_messages)
    return Entry(
        workload,
        level,
        name,
        contender,
        middle,
        messages,
        note=f"median of {len(outcomes)}",
        extra={"runs": runs},
        max_messages=max_messages,
    )


def _fields(entry: Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in Entry.__dataclass_fields__}


# --- IO-bound ------------------------------------------------------------------------------------

IO_PARTITIONS = 50
IO_LEVELS = (1, 5, 10, 25, 50)
IO_LEVELS_QUICK = (10, 50)  # 10: the CPU goal's level and the latency workload's capacity


def io_bound(ctx: Context) -> list[Entry]:
    """1 ms of IO per message over 50 partitions at each concurrency; efficiency = measured /
    (c / L). Each level has its own topic sized to last ``seconds`` at the ideal rate. parafka
    runs at each max_messages of ``ctx.batch_sizes``."""
    seconds = ctx.seconds(6.0, 1.5)
    levels = IO_LEVELS_QUICK if ctx.quick else IO_LEVELS
    contenders: list[tuple[str, int | None]] = [("sleep_pool", None)]
    contenders += [("parafka_app", m) for m in ctx.batch_sizes]
    contenders += [(c, None) for c in ("naive", *ctx.peers)]
    entries: list[Entry] = []
    for level in levels:
        ideal = level / ctx.sleep_cost
        messages = max(IO_PARTITIONS * 2, round(ideal * seconds / IO_PARTITIONS) * IO_PARTITIONS)
        topic, _ = fill_topic(ctx.bootstrap, f"io-{level}", IO_PARTITIONS, messages, VALUE)
        ctx.echo(f"io-bound c={level}: {messages:,} messages, ideal {ideal:,.0f} msg/s")
        for contender, max_messages in contenders:
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
                    max_messages=max_messages,
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
    max_messages: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Entry:
    info = traits(contender)
    name = name or info.label
    if contender == "parafka_app":
        name = _parafka_name(max_messages, name)
    if level > 1 and not info.in_process_parallelism:
        return _unsupported(
            workload, level, name, contender, "no in-process parallelism (scales by processes)"
        )
    options = dict(options or {})
    if max_messages is not None:
        options["max_messages"] = max_messages
    spec = _spec(
        ctx,
        contender,
        topic,
        partitions,
        concurrency=level,
        expected=expected,
        cost_ms=SLEEP_MS,
        options=options,
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
        extra=dict(extra or {}),
        max_messages=max_messages,
    )


# --- more workers than partitions ----------------------------------------------------------------

OVERSUBSCRIBED_PARTITIONS = 20
OVERSUBSCRIBED_LEVELS = (20, 50)


def oversubscribed(ctx: Context) -> list[Entry]:
    """1 ms of IO per message over 20 partitions, parafka at concurrency 20 and 50 (at each
    max_messages): 30 more workers than partitions must cost nothing. Both levels read one
    topic sized to last ``seconds`` at 20 / L; the ideal of both is 20 / L (one job per
    partition at a time), and the c=50 row's ratio is its throughput over the c=20 row's."""
    seconds = ctx.seconds(6.0, 1.5)
    partitions = OVERSUBSCRIBED_PARTITIONS
    ideal = partitions / ctx.sleep_cost
    messages = max(partitions * 2, round(ideal * seconds / partitions) * partitions)
    topic, _ = fill_topic(ctx.bootstrap, "oversubscribed", partitions, messages, VALUE)
    ctx.echo(
        f"more workers than partitions: {messages:,} messages over {partitions} partitions, "
        f"ideal {ideal:,.0f} msg/s at c = {' and '.join(map(str, OVERSUBSCRIBED_LEVELS))}"
    )
    entries: list[Entry] = []
    for max_messages in ctx.batch_sizes:
        pair = [
            _scaled(
                ctx,
                "oversubscribed",
                "parafka_app",
                topic,
                partitions,
                level,
                messages,
                ideal,
                _even(messages, partitions),
                max_messages=max_messages,
            )
            for level in OVERSUBSCRIBED_LEVELS
        ]
        base = pair[0].throughput
        entries += [
            Entry(**{**_fields(e), "ratio": e.throughput / base if base else None}) for e in pair
        ]
    return entries


# --- one hot partition ---------------------------------------------------------------------------

HOT_KEYS = 1000
HOT_LEVELS = (1, 5, 10, 25)
HOT_LEVELS_QUICK = (25,)


def default_distribution() -> str:
    """The distribution a ``VirtualPartitions`` gets when none is given (parafka's default)."""
    return str(parafka.VirtualPartitions(partitioner=lambda m: m.key).distribution)


def hot_partition(ctx: Context) -> list[Entry]:
    """One partition, 1,000 keys, 1 ms of IO each; parafka splits it into ``c`` virtual
    partitions: with its default distribution at each max_messages, and with the other one at
    the App's default max_messages; the peers use their own parallelism, if any, inside it."""
    seconds = ctx.seconds(6.0, 1.5)
    levels = HOT_LEVELS_QUICK if ctx.quick else HOT_LEVELS
    default = default_distribution()
    other = "consistent" if default == "balanced" else "balanced"
    # (distribution, max_messages, is the default distribution)
    variants: list[tuple[str, int | None, bool]] = [(default, m, True) for m in ctx.batch_sizes]
    variants.append((other, None, False))
    entries: list[Entry] = []
    for level in levels:
        ideal = level / ctx.sleep_cost
        messages = max(HOT_KEYS, round(ideal * seconds / HOT_KEYS) * HOT_KEYS)
        topic, _ = fill_keyed_topic(ctx.bootstrap, f"hot-{level}", messages, HOT_KEYS, VALUE)
        ctx.echo(f"hot partition, {level} lanes: {messages:,} messages, ideal {ideal:,.0f}")
        expected = {0: messages}
        for distribution, max_messages, is_default in variants:
            options: dict[str, Any] = {"virtual_partitions": level}
            if not is_default:
                options["distribution"] = distribution  # the default one is left to parafka
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
                    name=f"parafka VP {distribution}{' (default)' if is_default else ''}",
                    options=options,
                    max_messages=max_messages,
                    extra={"distribution": distribution, "default_distribution": is_default},
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
SKEW_MAX_MESSAGES = 10  # parafka's; as in the earlier runs (skew has no goal of its own)


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
            options={"max_messages": SKEW_MAX_MESSAGES},
        )
        parafka_app = contender == "parafka_app"
        name = _parafka_name(SKEW_MAX_MESSAGES) if parafka_app else info.label
        outcome = _run(ctx, spec, "skew", name)
        throughput = measured_throughput(outcome)
        slow_done = int(outcome.partitions.get("0", {}).get("count", 0))
        entries.append(
            Entry(
                "skew",
                SKEW_CONCURRENCY,
                name,
                contender,
                outcome,
                9 * fast,
                ideal=ideal,
                efficiency=throughput / ideal,
                note=None if outcome.finished else outcome.error,
                extra={"slow_processed": slow_done},
                max_messages=SKEW_MAX_MESSAGES if parafka_app else None,
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


#: A contender's capacity (msg/s) by (contender, parafka's max_messages or None).
Capacities = dict[tuple[str, int | None], float]


def capacities(io: Sequence[Entry]) -> Capacities:
    """What the latency workload takes as each contender's capacity: its io-bound throughput
    at concurrency 10 in this run (at 1 for contenders without in-process parallelism)."""
    found: Capacities = {}
    for entry in io:
        if not entry.outcome.finished:
            continue
        parallel = traits(entry.contender).in_process_parallelism
        if entry.level == (LATENCY_CONCURRENCY if parallel else 1):
            found[(entry.contender, entry.max_messages)] = entry.throughput
    return found


def latency(ctx: Context, capacities: Capacities) -> list[Entry]:
    """A steady produce rate at half of each contender's capacity (see :func:`capacities`, or
    10 / L if that level did not run), 1 ms of IO per message over 10 partitions; p50/p99 of
    send-to-processed time. parafka runs at each max_messages of ``ctx.batch_sizes``, each at
    half of its own capacity at that max_messages.

    One stamped message per partition is there before the contender starts; the steady rate
    begins when the contender reports that it processed its first message, so neither its
    start-up nor its group join is in the figure, and latencies count from ``warmup`` seconds
    after that."""
    duration = ctx.seconds(20.0, 4.0)
    warmup = 1.0
    _warm_up_live_traffic(ctx, ctx.seconds(20.0, 6.0))
    entries = []
    contenders: list[tuple[str, int | None]] = [("parafka_app", m) for m in ctx.batch_sizes]
    contenders += [(c, None) for c in ("naive", *ctx.peers)]
    for contender, max_messages in contenders:
        info = traits(contender)
        name = _parafka_name(max_messages) if contender == "parafka_app" else info.label
        level = LATENCY_CONCURRENCY if info.in_process_parallelism else 1
        capacity = capacities.get((contender, max_messages)) or level / ctx.sleep_cost
        rate = capacity / 2
        messages = int(rate * duration)
        topic = unique("latency")
        create_topic(ctx.bootstrap, topic, LATENCY_PARTITIONS)
        options: dict[str, Any] = {"latency_warmup_s": warmup}
        if max_messages is not None:
            options["max_messages"] = max_messages
        spec = _spec(
            ctx,
            contender,
            topic,
            LATENCY_PARTITIONS,
            concurrency=level,
            expected={p: n + 1 for p, n in _even(messages, LATENCY_PARTITIONS).items()},
            cost_ms=SLEEP_MS,
            latency=True,
            options=options,
        )
        producer = _PacedProducer(ctx.bootstrap, topic, LATENCY_PARTITIONS, rate, messages)
        producer.seed()
        producer.start()
        try:
            outcome = _run(ctx, spec, "latency", name, on_first=producer.go.set)
        finally:
            producer.stop()
        entries.append(
            Entry(
                "latency",
                level,
                name,
                contender,
                outcome,
                messages,
                note=None if outcome.finished else outcome.error,
                extra={
                    "rate": rate,
                    "capacity": capacity,
                    "produce_lag_ms": producer.max_lag * 1000,
                },
                max_messages=max_messages,
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


# --- async def consume ---------------------------------------------------------------------------

ASYNC_PARTITIONS = 20
ASYNC_LANES = 50  # virtual partitions per partition: 1,000 lanes in flight
ASYNC_KEYS = 1000
ASYNC_CONCURRENCY = 4
ASYNC_MESSAGES = 400_000
ASYNC_MESSAGES_QUICK = 100_000
#: The asyncio peers, and how much of the topic they read: they ran this workload at about 3
#: (FastStream) and 8-10 (faust) thousand messages a second, so they stop after 40,000 (10,000
#: with --quick) from any partitions: under 15 s each.
ASYNC_PEERS = ("peer_faststream", "peer_faust")
ASYNC_PEER_MESSAGES = 40_000
ASYNC_PEER_MESSAGES_QUICK = 10_000
#: The peers' in-flight parallelism (FastStream's subscriber ``max_workers``, faust's agent
#: ``concurrency``): as many messages in flight as parafka has lanes.
ASYNC_PEER_IN_FLIGHT = ASYNC_PARTITIONS * ASYNC_LANES


def async_io(ctx: Context) -> list[Entry]:
    """``async def consume`` with ``await asyncio.sleep(0.001)`` per message: 20 partitions of
    1,000 keys (50 each), parafka with 50 virtual-partition lanes per partition by key (1,000
    in flight) and 4 workers, at each max_messages; FastStream and faust on the same topic with
    1,000 in flight each (they read the first 40,000 processed, from any partitions). Every
    message's value carries its key's sequence number, so each run reports whether per-key order
    held; after each run the group's committed offsets are read (parafka reads the whole topic,
    so they must reach its end)."""
    messages = ASYNC_MESSAGES_QUICK if ctx.quick else ASYNC_MESSAGES
    topic, _ = fill_sequenced_topic(
        ctx.bootstrap, "async", ASYNC_PARTITIONS, messages, ASYNC_KEYS, VALUE
    )
    ctx.echo(
        f"async: {messages:,} messages, {ASYNC_KEYS:,} keys over {ASYNC_PARTITIONS} partitions, "
        f"{ASYNC_PARTITIONS * ASYNC_LANES:,} in flight"
    )
    entries = []
    for max_messages in ctx.batch_sizes:
        spec = _spec(
            ctx,
            "parafka_app",
            topic,
            ASYNC_PARTITIONS,
            concurrency=ASYNC_CONCURRENCY,
            expected=_even(messages, ASYNC_PARTITIONS),
            cost_ms=SLEEP_MS,
            check_order=True,
            options={
                "asynchronous": True,
                "virtual_partitions": ASYNC_LANES,
                "max_messages": max_messages,
            },
        )
        entries.append(_async_entry(ctx, spec, _parafka_name(max_messages), max_messages))
    # The same app as a swarm of 2 nodes (one event loop per core), at the default batch size.
    spec = _spec(
        ctx,
        "parafka_swarm",
        topic,
        ASYNC_PARTITIONS,
        concurrency=ASYNC_CONCURRENCY,
        expected=_even(messages, ASYNC_PARTITIONS),
        cost_ms=SLEEP_MS,
        check_order=True,
        options={
            "asynchronous": True,
            "virtual_partitions": ASYNC_LANES,
            "max_messages": 100,
            "processes": 2,
        },
    )
    entries.append(_async_entry(ctx, spec, "parafka swarm, 2 nodes, max_messages 100", None))
    peer_messages = min(messages, ASYNC_PEER_MESSAGES_QUICK if ctx.quick else ASYNC_PEER_MESSAGES)
    for peer in (p for p in ASYNC_PEERS if p in ctx.peers):
        # From any partitions: FastStream's workers share one queue that one partition's fetch
        # can fill, so waiting for a share of each partition had it process the whole topic
        # (95,523 messages for 10,000 expected) and report a fraction of its real rate.
        spec = _spec(
            ctx,
            peer,
            topic,
            ASYNC_PARTITIONS,
            concurrency=ASYNC_PEER_IN_FLIGHT,
            expected={},
            expected_total=peer_messages,
            cost_ms=SLEEP_MS,
            check_order=True,
        )
        entries.append(_async_entry(ctx, spec, traits(peer).label, None))
    return entries


def _async_entry(ctx: Context, spec: Spec, name: str, max_messages: int | None) -> Entry:
    outcome = _run(ctx, spec, "async", name)
    notes, committed = order_and_commit_notes(ctx, spec, outcome, "per-key")
    if not outcome.finished:
        notes.insert(0, outcome.error or "unfinished")
    return Entry(
        "async",
        spec.concurrency,
        name,
        spec.contender,
        outcome,
        spec.total,
        note="; ".join(notes),
        extra={
            "committed": None if committed is None else {str(p): o for p, o in committed.items()},
            "expected": {str(p): n for p, n in spec.expected.items()},
        },
        max_messages=max_messages,
    )


def order_and_commit_notes(
    ctx: Context, spec: Spec, outcome: Outcome, unit: str
) -> tuple[list[str], dict[int, int] | None]:
    """The first notes of an entry whose order and commits are checked: whether ``unit``
    order (``partition`` or ``per-key``) was kept, and where the group's committed offsets
    stand; with the committed offsets (None when they could not be read: the note says why)."""
    try:
        offsets = committed_offsets(ctx.bootstrap, spec.group, spec.topic, spec.partitions)
    except Exception as exc:  # the figure is reported without it, and says why
        committed: dict[int, int] | None = None
        committed_note = f"committed offsets unreadable: {exc}"
    else:
        committed = {p: max(0, o) for p, o in offsets.items()}
        committed_note = _committed_note(committed, spec.expected, outcome.processed)
    violations = outcome.order_violations
    order_note = (
        "order not checked"
        if violations is None
        else f"{unit} order kept"
        if violations == 0
        else f"{unit} order broken by {violations:,} messages"
    )
    return [order_note, committed_note], committed


def _committed_note(committed: dict[int, int], expected: dict[int, int], processed: int) -> str:
    total = sum(committed.values())
    if expected and all(committed.get(p, 0) == n for p, n in expected.items()):
        return f"committed offsets: at the end, {total:,} messages"
    return f"committed offsets: {total:,} messages (it processed {processed:,})"


# --- memory --------------------------------------------------------------------------------------

MEMORY_PARTITIONS = 1000
MEMORY_VALUE = 100_000
MEMORY_COST_MS = 20.0
MEMORY_CONCURRENCY = 10
#: parafka's process-wide budget for buffered messages (App max_buffered_bytes), when it has one.
MEMORY_BUDGET = 64 * 1024 * 1024
BASELINE_NAME = "parafka, nothing to consume (baseline)"


def buffered_bytes_budget() -> int | None:
    """:data:`MEMORY_BUDGET` if this parafka's App takes ``max_buffered_bytes``, else None."""
    has_it = "max_buffered_bytes" in inspect.signature(parafka.App).parameters
    return MEMORY_BUDGET if has_it else None


def memory(ctx: Context) -> list[Entry]:
    """A backlog of 100 KB messages over 1,000 partitions (6 a partition, 600 MB; 3 with
    --quick) processed slowly (20 ms each, concurrency 10); the run ends after ``seconds`` of
    processing at the ideal rate (8 s, 2 s with --quick: 4,000 messages at concurrency 10, 400
    on one thread), from whichever partitions, with a good part of the backlog still unread;
    peak RSS (VmHWM) of each contender is the figure. parafka runs with
    ``App(max_buffered_bytes=64 MiB)`` when it has that setting.

    First, the baseline: the same parafka app (the same settings, 10 workers) on an empty
    1,000-partition topic but for one 100-byte message, which it holds for a few seconds while
    librdkafka fetches the empty partitions: what the interpreter, parafka, librdkafka and
    1,000 assigned partitions cost with no message data buffered."""
    per_partition = 3 if ctx.quick else 6
    seconds = ctx.seconds(8.0, 2.0)
    budget = buffered_bytes_budget()
    parafka_options: dict[str, Any] = {} if budget is None else {"max_buffered_bytes": budget}
    entries = [_memory_baseline(ctx, parafka_options)]
    messages = per_partition * MEMORY_PARTITIONS
    topic, _ = fill_topic(ctx.bootstrap, "memory", MEMORY_PARTITIONS, messages, MEMORY_VALUE)
    ctx.echo(
        f"memory: {messages:,} x 100 KB = {messages * MEMORY_VALUE / 1e6:,.0f} MB backlog over "
        f"{MEMORY_PARTITIONS:,} partitions; parafka's budget: "
        + (f"{budget / 2**20:.0f} MiB" if budget else "none (App has no max_buffered_bytes)")
    )
    for contender in ("parafka_app", "bare", "naive", *ctx.peers):
        info = traits(contender)
        parallel = contender != "bare" and info.in_process_parallelism
        level = MEMORY_CONCURRENCY if parallel else 1
        parafka_app = contender == "parafka_app"
        spec = _spec(
            ctx,
            contender,
            topic,
            MEMORY_PARTITIONS,
            concurrency=level,
            expected={},
            expected_total=round(level * seconds * 1000.0 / MEMORY_COST_MS),
            cost_ms=MEMORY_COST_MS,
            options=parafka_options if parafka_app else {},
        )
        name = info.label
        if parafka_app and budget is not None:
            name = f"{name}, max_buffered_bytes {budget / 2**20:.0f} MiB"
        outcome = _run(ctx, spec, "memory", name)
        extra: dict[str, Any] = {}
        if parafka_app:
            extra = {"budget_bytes": budget}
            if budget is None:
                extra["budget_unavailable"] = "App has no max_buffered_bytes"
        entries.append(
            Entry(
                "memory",
                level,
                name,
                contender,
                outcome,
                spec.total,
                note=None if outcome.finished else outcome.error,
                extra=extra,
            )
        )
    return entries


def _memory_baseline(ctx: Context, options: dict[str, Any]) -> Entry:
    hold_ms = ctx.seconds(5.0, 2.0) * 1000.0
    topic = unique("memory-idle")
    create_topic(ctx.bootstrap, topic, MEMORY_PARTITIONS)
    produce_messages(ctx.bootstrap, topic, [(None, b"x" * VALUE, 0)])
    spec = _spec(
        ctx,
        "parafka_app",
        topic,
        MEMORY_PARTITIONS,
        concurrency=MEMORY_CONCURRENCY,
        expected={0: 1},
        cost_ms=hold_ms,
        options=options,
    )
    outcome = _run(ctx, spec, "memory", BASELINE_NAME)
    note = f"one {VALUE} B message, held {hold_ms / 1000:.0f} s"
    return Entry(
        "memory",
        MEMORY_CONCURRENCY,
        BASELINE_NAME,
        "parafka_app",
        outcome,
        1,
        note=note if outcome.finished else f"{note}; {outcome.error}",
        extra={"baseline": True},
    )


WORKLOADS: Sequence[str] = (
    "overhead",
    "io",
    "oversubscribed",
    "hot",
    "skew",
    "latency",
    "async",
    "memory",
    "cpu_bound",  # bench.cpu
    "mixed",  # bench.cpu
)
