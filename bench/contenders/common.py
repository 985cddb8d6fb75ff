"""What every contender shares: the spec it is given, the recorder it calls, the result it prints.

Standard library only: this module runs inside each peer's own virtualenv.

Thread ownership: :class:`Recorder` is called from whatever threads (or event loop) the contender
processes messages on, and from the thread of a :class:`~bench.contenders.remote.Collector` for
messages processed in other processes; ``_lock`` guards its counters. The main thread of the
contender process only waits on ``Recorder.done`` and reads the summary afterwards.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bench.contenders.order import Deliveries, KeyOrder
from bench.contenders.processes import TreeUsage, read_tree
from bench.contenders.work import Plan, perform, perform_async, plan

__all__ = [
    "FIRST_MARKER",
    "RESULT_PREFIX",
    "KeyOrder",
    "Outcome",
    "Processing",
    "Recorder",
    "Spec",
    "Unsupported",
    "Usage",
    "consumer_settings",
    "sent_at",
    "sequence_of",
    "sequenced_value",
    "stamp_value",
]

#: The line the contender process prints its result on: ``RESULT_PREFIX + json``.
RESULT_PREFIX = "BENCH-RESULT "

#: The line the contender process prints when its first message was processed.
FIRST_MARKER = "BENCH-FIRST"

#: Width of the send-time stamp at the start of a latency workload's values.
STAMP_WIDTH = 20


class Unsupported(Exception):
    """Raised by a contender's ``run`` when the workload cannot be run with its framework at all
    (not merely slowly). The contender process reports the reason as ``Outcome.unsupported``
    instead of an error."""


@dataclass(frozen=True)
class Spec:
    """One contender run of one workload.

    ``expected[p]`` is how many messages of partition ``p`` must be processed before the run
    ends; partitions not in it (a slow partition in the skew workload) are consumed but not
    waited for. ``expected_total``, when not 0, is how many must be processed in all, from any
    partitions (the memory workload: 1,000 partitions, of which a slow contender reaches few).
    Each message costs ``cost_ms`` of blocking sleep (IO stand-in), or
    ``partition_cost_ms[p]`` for the partitions listed there. ``cpu_iterations`` adds pure-Python
    CPU work to each message (:func:`bench.contenders.work.spin`); with ``mixed``, messages at
    even places of their partition do only the CPU work and those at odd places only the sleep
    (see :func:`bench.contenders.work.plan`; the place is read from a sequenced value).
    """

    contender: str
    bootstrap: str
    topic: str
    group: str
    partitions: int
    concurrency: int
    expected: dict[int, int]
    cost_ms: float = 0.0
    partition_cost_ms: dict[int, float] = field(default_factory=dict)
    expected_total: int = 0
    latency: bool = False  # values start with the producer's send time, see stamp_value
    check_order: bool = False  # values start with (key, sequence), see sequenced_value
    cpu_iterations: int = 0  # iterations of work.spin per message (calibrated by the parent)
    mixed: bool = False  # half the messages CPU, half sleep (see above)
    timeout_s: float = 600.0
    options: dict[str, Any] = field(default_factory=dict)  # contender-specific knobs

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        raw = json.loads(text)
        raw["expected"] = {int(k): int(v) for k, v in raw["expected"].items()}
        raw["partition_cost_ms"] = {int(k): float(v) for k, v in raw["partition_cost_ms"].items()}
        return cls(**raw)

    def cost_of(self, partition: int) -> float:
        """Seconds one message of ``partition`` costs."""
        return self.partition_cost_ms.get(partition, self.cost_ms) / 1000.0

    def plan_for(self, partition: int, sequence: int | None) -> Plan:
        """What the message at place ``sequence`` of ``partition`` costs."""
        return plan(self.cpu_iterations, self.cost_of(partition), self.mixed, sequence)

    @property
    def timed(self) -> bool:
        """Whether messages cost anything (else a contender may count whole batches)."""
        return (
            self.cost_ms > 0
            or bool(self.partition_cost_ms)
            or self.latency
            or self.cpu_iterations > 0
        )

    @property
    def total(self) -> int:
        """How many messages the run waits for."""
        return max(sum(self.expected.values()), self.expected_total)


def stamp_value(size: int) -> bytes:
    """A value of ``size`` bytes that starts with the current wall-clock time."""
    head = f"{time.time():.6f}".ljust(STAMP_WIDTH).encode()
    return head + b"x" * max(0, size - len(head))


def sent_at(value: bytes | None) -> float | None:
    """The send time a :func:`stamp_value` value starts with, or None for other values."""
    if not value or len(value) < STAMP_WIDTH:
        return None
    try:
        return float(value[:STAMP_WIDTH])
    except ValueError:
        return None


def sequenced_value(key: int, sequence: int, size: int) -> bytes:
    """A value of ``size`` bytes that starts with its key's number and its place among that
    key's messages (``b"7:42;xxx..."``), for the per-key order check of :class:`KeyOrder`."""
    head = b"%d:%d;" % (key, sequence)
    return head + b"x" * max(0, size - len(head))


def sequence_of(value: bytes | None) -> tuple[int, int] | None:
    """The ``(key, sequence)`` a :func:`sequenced_value` value starts with, or None."""
    if not value:
        return None
    head, separator, _ = value[:48].partition(b";")
    key, colon, sequence = head.partition(b":")
    if not separator or not colon:
        return None
    try:
        return int(key), int(sequence)
    except ValueError:
        return None


class Processing(Protocol):
    """What a contender's consumer code calls for each message: a :class:`Recorder` in the
    contender process, a :class:`~bench.contenders.remote.Probe` in a process it started."""

    def process(self, partition: int, value: bytes | None) -> None: ...

    async def process_async(self, partition: int, value: bytes | None) -> None: ...

    def record_many(
        self, partition: int, count: int, values: Sequence[bytes | None] = ()
    ) -> None: ...


@dataclass
class _Partition:
    count: int = 0
    first: float = 0.0  # monotonic time the first message of it finished
    last: float = 0.0  # ... and the last one
    reached: float = 0.0  # when count reached the expected number (0: not yet)


class Recorder:
    """Counts processed messages per partition and says when the expected ones are all done.

    Messages processed in this process go through :meth:`process` (or :meth:`record` /
    :meth:`record_many`); those processed in other processes the contender started arrive
    through :meth:`record_elsewhere`, each with the times it began and ended.
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.done = threading.Event()
        #: Set by the contender process once it printed the outcome (its CPU and memory figures
        #: are taken): a contender that stops processes of its own waits for it first.
        self.reported = threading.Event()
        self._lock = threading.Lock()
        self._parse = spec.check_order or spec.cpu_iterations > 0
        self._outstanding = {p: n for p, n in spec.expected.items() if n > 0}
        self._total_left = spec.expected_total  # guarded by _lock, like what follows
        self._total_reached = 0.0  # when _total_left reached 0 (monotonic; 0: not yet)
        # guarded by _lock:
        self._partitions: dict[int, _Partition] = {}
        self._latest = 0.0  # the latest time a message finished
        self._latencies: list[float] = []
        self._order = KeyOrder() if spec.check_order else None
        self._deliveries: Deliveries | None = None  # messages processed elsewhere, if any
        self._started_by: dict[int, float] = {}  # process id -> when its first message began
        self._first_runs = array("d")  # when each message processed elsewhere first began
        self.first_started: float | None = None  # when the first message began processing
        # Latencies count for messages sent from here on (first record + the warm-up):
        self._counted_from: float | None = None
        if not self._outstanding and self._total_left <= 0:
            self.done.set()

    def process(self, partition: int, value: bytes | None) -> None:
        """Do the workload's work for one message (its CPU work, its sleep), then
        :meth:`record` it."""
        if self.first_started is None:
            with self._lock:
                if self.first_started is None:
                    self.first_started = time.monotonic()
        sequenced = sequence_of(value) if self._parse else None
        cost = self._plan(partition, sequenced)
        key = self._began(sequenced)
        perform(cost)
        self._finished(key)
        self.record(partition, value)

    async def process_async(self, partition: int, value: bytes | None) -> None:
        """:meth:`process` for asyncio contenders: the sleep is an ``asyncio.sleep``."""
        if self.first_started is None:
            self.first_started = time.monotonic()
        sequenced = sequence_of(value) if self._parse else None
        cost = self._plan(partition, sequenced)
        key = self._began(sequenced)
        await perform_async(cost)
        self._finished(key)
        self.record(partition, value)

    def _plan(self, partition: int, sequenced: tuple[int, int] | None) -> Plan:
        return self.spec.plan_for(partition, None if sequenced is None else sequenced[1])

    def _began(self, sequenced: tuple[int, int] | None) -> int | None:
        """With ``spec.check_order``: note that a message of its key began; returns the key."""
        if self._order is None or sequenced is None:
            return None
        with self._lock:
            self._order.began(*sequenced)
        return sequenced[0]

    def _finished(self, key: int | None) -> None:
        if key is not None and self._order is not None:
            with self._lock:
                self._order.finished(key)

    def record(self, partition: int, value: bytes | None) -> None:
        """One message of ``partition`` finished processing."""
        self.record_many(partition, 1, (value,))

    def record_elsewhere(
        self,
        partition: int,
        sequenced: tuple[int, int] | None,
        began: float,
        ended: float,
        process: int = 0,
    ) -> None:
        """A message of ``partition`` was processed in process ``process`` from ``began`` to
        ``ended`` (monotonic: every process on the machine shares that clock). A sequenced
        message counts once however often it is reported (a redelivery); the order check and
        the redeliveries are in :meth:`outcome`. Called on the collector's thread."""
        first = True
        with self._lock:
            if self.first_started is None or began < self.first_started:
                self.first_started = began
            if began < self._started_by.get(process, began + 1.0):
                self._started_by[process] = began
            if sequenced is not None:
                if self._deliveries is None:
                    self._deliveries = Deliveries()
                first = self._deliveries.add(sequenced[0], sequenced[1], began, ended)
            if first:
                self._first_runs.append(began)
        if first:
            self.record_many(partition, 1, at=ended)

    def record_many(
        self,
        partition: int,
        count: int,
        values: Sequence[bytes | None] = (),
        at: float | None = None,
    ) -> None:
        """``count`` messages of ``partition`` finished processing (a batch), now or ``at``
        (monotonic). ``values`` are needed only by latency workloads, to read the send times
        from."""
        now = time.monotonic() if at is None else at
        latencies: list[float] = []
        if self.spec.latency:
            wall = time.time()
            if self._counted_from is None:
                self._counted_from = wall + float(self.spec.options.get("latency_warmup_s", 0))
            counted_from = self._counted_from
            latencies = [
                wall - sent
                for sent in map(sent_at, values)
                if sent is not None and sent >= counted_from
            ]
        with self._lock:
            first = not self._partitions
            if self.first_started is None:
                self.first_started = now
            self._latest = max(self._latest, now)
            state = self._partitions.get(partition)
            if state is None:
                state = self._partitions[partition] = _Partition(first=now)
            state.count += count
            state.first = min(state.first, now)  # reports from elsewhere arrive out of order
            state.last = max(state.last, now)
            self._latencies.extend(latencies)
            left = self._outstanding.get(partition)
            if left is not None:
                if left <= count:
                    del self._outstanding[partition]
                    state.reached = state.last
                else:
                    self._outstanding[partition] = left - count
            if self._total_left > 0:
                self._total_left -= count
                if self._total_left <= 0:
                    self._total_reached = self._latest
            if not self._outstanding and self._total_left <= 0 and not self.done.is_set():
                self.done.set()
        if first:
            # Tells the runner that this contender is consuming (the latency workload starts
            # its steady produce rate then, so the group join is not part of the figure).
            sys.stdout.write(FIRST_MARKER + "\n")
            sys.stdout.flush()

    def outcome(
        self,
        usage: Usage,
        finished: bool,
        error: str | None = None,
        unsupported: str | None = None,
    ) -> Outcome:
        with self._lock:
            partitions = {
                p: {"count": s.count, "first": s.first, "last": s.last, "reached": s.reached}
                for p, s in sorted(self._partitions.items())
            }
            latencies = sorted(self._latencies)
            violations = None if self._order is None else self._order.violations
            redelivered = None
            if self._deliveries is not None:
                elsewhere, redelivered = self._deliveries.check()
                if violations is not None:
                    violations += elsewhere
            total_reached = self._total_reached
            all_working = max(self._started_by.values()) if len(self._started_by) > 1 else None
            after = (
                0
                if all_working is None
                else sum(1 for began in self._first_runs if began >= all_working)
            )
        processed = sum(int(p["count"]) for p in partitions.values())
        firsts = [p["first"] for p in partitions.values()]
        reached = [p["reached"] for p in partitions.values() if p["reached"]]
        began = self.first_started if self.first_started is not None else min(firsts, default=0)
        if total_reached:
            reached.append(total_reached)
        ended = max(reached, default=0.0)
        seconds = ended - began if finished and ended else 0.0
        working_s = None if all_working is None else all_working - began
        working_throughput = None
        if all_working is not None and finished and ended > all_working:
            working_throughput = after / (ended - all_working)
        return Outcome(
            contender=self.spec.contender,
            finished=finished,
            error=error,
            processed=processed,
            seconds=seconds,
            throughput=self.spec.total / seconds if seconds > 0 else 0.0,
            began=began,
            partitions={str(p): v for p, v in partitions.items()},
            latency_ms=_percentiles(latencies) if latencies else None,
            cpu_seconds=usage.cpu_seconds(),
            cpu_us_per_message=usage.cpu_seconds() * 1e6 / processed if processed else 0.0,
            peak_rss_mb=usage.peak_rss_mb(),
            unsupported=unsupported,
            order_violations=violations,
            redelivered=redelivered,
            processes=usage.processes(),
            all_working_after_s=working_s,
            all_working_throughput=working_throughput,
        )


def _percentiles(latencies: list[float]) -> dict[str, float]:
    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    return {"count": len(latencies), "p50": at(0.5), "p99": at(0.99), "max": at(1.0)}


class Usage:
    """CPU time since construction and peak RSS of this process and of every process it started
    (see :mod:`bench.contenders.processes` for how the processes it started are counted)."""

    def __init__(self) -> None:
        self._start = read_tree()
        self._end: TreeUsage | None = None

    def stop(self) -> None:
        """Take the figures now (the moment the expected messages are done)."""
        self._end = read_tree()

    def _at_end(self) -> TreeUsage:
        return self._end or read_tree()

    def cpu_seconds(self) -> float:
        return self._at_end().cpu_seconds - self._start.cpu_seconds

    def peak_rss_mb(self) -> float:
        """The sum of the processes' RSS high-water marks (``VmHWM``).

        Not ``ru_maxrss``: on Linux a child created by fork starts with its parent's maximum,
        which would charge every contender with the benchmark runner's memory.
        """
        return self._at_end().peak_kib / 1024.0

    def processes(self) -> int:
        """How many processes the figures cover, this one included."""
        return self._at_end().processes


@dataclass(frozen=True)
class Outcome:
    """What a contender process reports (one JSON line on stdout).

    ``seconds`` runs from the first message that began processing to the moment the last
    expected partition completed, so group joins and start-up are left out. ``partitions``
    maps each partition to its count and monotonic times (same clock as ``began``).
    """

    contender: str
    finished: bool
    error: str | None
    processed: int
    seconds: float
    throughput: float
    began: float
    partitions: dict[str, dict[str, float]]
    latency_ms: dict[str, float] | None
    cpu_seconds: float
    cpu_us_per_message: float
    peak_rss_mb: float
    unsupported: str | None = None
    #: Messages that broke their key's order (see KeyOrder); None when it was not checked.
    order_violations: int | None = None
    #: Messages processed again in other processes (see Deliveries); None when none reported.
    redelivered: int | None = None
    #: The processes that CPU time and peak RSS cover (the contender's and those it started).
    processes: int = 1
    #: With messages processed in more than one other process: seconds from ``began`` until
    #: the last of them began its first message, and the throughput from then on (messages
    #: that first began since, over the time to the end). None otherwise.
    all_working_after_s: float | None = None
    all_working_throughput: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def empty(
        cls, contender: str, error: str | None = None, unsupported: str | None = None
    ) -> Outcome:
        """An outcome with nothing processed: a contender that failed or could not run."""
        return cls(
            contender=contender,
            finished=False,
            error=error,
            processed=0,
            seconds=0.0,
            throughput=0.0,
            began=0.0,
            partitions={},
            latency_ms=None,
            cpu_seconds=0.0,
            cpu_us_per_message=0.0,
            peak_rss_mb=0.0,
            unsupported=unsupported,
        )

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


def consumer_settings(spec: Spec, logger: object) -> dict[str, Any]:
    """librdkafka consumer settings for a contender built on confluent-kafka directly: the
    spec's broker and group, from the earliest offset, plus ``spec.options["kafka"]``."""
    return {
        "bootstrap.servers": spec.bootstrap,
        "group.id": spec.group,
        "auto.offset.reset": "earliest",
        "logger": logger,
        **spec.options.get("kafka", {}),
    }
