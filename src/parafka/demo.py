"""The demo behind ``parafka demo``: one workload processed with 1 and with N worker threads.

A topic with several partitions gets ``{"order": i}`` messages; handling one costs ~1 ms of
simulated IO (a database or HTTP call). The same workload is consumed twice with
:class:`parafka.App`, each time in a fresh consumer group: first with one worker thread, then
with ``concurrency`` threads. Each run shows a progress bar; a table compares the runs, and the
demo checks what parafka promises: every partition processed in offset order, every message
processed once (at-least-once, with no duplicates on a clean run).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from parafka.app import App
from parafka.broker import LocalBroker
from parafka.consumer import Consumer
from parafka.errors import BrokerAlreadyRunning
from parafka.instrumentation import Event
from parafka.messages import Messages
from parafka.testing import create_topic, produce_messages

#: Why ``import parafka.demo`` fails without the ``demo`` extra, and what to do.
DEMO_NEEDS_RICH = "parafka demo needs the rich package: pip install 'parafka[demo]'"

try:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
    from rich.table import Table
except ModuleNotFoundError as exc:  # rich is an extra: the library itself never needs it
    raise ModuleNotFoundError(DEMO_NEEDS_RICH, name=exc.name) from exc

__all__ = ["DemoResult", "RunResult", "run_demo"]

#: Simulated IO per message.
IO_SECONDS = 0.001
#: Messages fetched per poll (``App(max_messages=...)``), hence the largest batch.
MAX_MESSAGES = 10


@dataclass(frozen=True)
class RunResult:
    """What one consumer-group run saw."""

    concurrency: int
    group_id: str
    expected: int
    #: Messages reported by ``worker.processed`` events.
    processed: int
    #: Messages handed to ``consume()`` (duplicates included).
    handled: int
    #: Messages handled more than once (same partition and offset).
    duplicates: int
    #: Messages of the workload never handled.
    missing: int
    #: Partitions whose offsets were not strictly increasing in processing order.
    out_of_order: tuple[int, ...]
    #: From the first partition assignment to the last message processed.
    seconds: float
    #: Every message was processed within the timeout.
    completed: bool
    #: Why the app stopped early, if it did.
    error: str | None = None

    @property
    def in_order(self) -> bool:
        return not self.out_of_order

    @property
    def exactly_once(self) -> bool:
        return self.duplicates == 0 and self.missing == 0 and self.handled == self.expected

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class DemoResult:
    """The topic and both runs (the second is missing when the first failed)."""

    topic: str
    messages: int
    partitions: int
    runs: tuple[RunResult, ...]

    @property
    def ok(self) -> bool:
        """Both runs processed every message once, each partition in order."""
        return len(self.runs) == 2 and all(
            run.completed and run.in_order and run.exactly_once for run in self.runs
        )

    def speed_up(self, run: RunResult) -> float:
        """How many times faster ``run`` was than the first (concurrency 1) run."""
        baseline = self.runs[0].seconds
        return baseline / run.seconds if run.seconds > 0 else 0.0


def run_demo(
    messages: int = 6_000,
    partitions: int = 10,
    concurrency: int = 10,
    *,
    bootstrap: str | None = None,
    broker_name: str = "demo",
    timeout: float = 120.0,
    console: Console | None = None,
) -> DemoResult:
    """Produce ``messages`` to a new topic and consume them with 1, then ``concurrency`` threads.

    With ``bootstrap`` the demo uses that broker; otherwise it starts the local broker
    ``broker_name`` (or reuses it when it already runs) and stops a broker it started, also on
    error. Each run gets ``timeout`` seconds to process every message; ``DemoResult.ok`` says
    whether everything was processed, once and in order.
    """
    console = console or Console()
    if bootstrap is not None:
        console.print(f"using the broker at {bootstrap}")
        return _demo(bootstrap, messages, partitions, concurrency, timeout, console)
    broker = LocalBroker(broker_name)
    began = time.monotonic()
    try:
        info = broker.start()
    except BrokerAlreadyRunning as exc:
        console.print(f"using the running broker {broker_name!r} at {exc.bootstrap}")
        return _demo(exc.bootstrap, messages, partitions, concurrency, timeout, console)
    console.print(
        f"started Kafka {info.kafka_version} at {info.bootstrap} "
        f"in {time.monotonic() - began:.1f} s"
    )
    try:
        return _demo(info.bootstrap, messages, partitions, concurrency, timeout, console)
    finally:
        broker.stop()
        console.print(f"stopped broker {broker_name!r}")


def _demo(
    bootstrap: str,
    messages: int,
    partitions: int,
    concurrency: int,
    timeout: float,
    console: Console,
) -> DemoResult:
    topic = f"parafka-demo-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions)
    console.print(f"created topic {topic} with {partitions} partitions")
    began = time.monotonic()
    produce_messages(
        bootstrap,
        topic,
        ((None, json.dumps({"order": i}).encode(), i % partitions) for i in range(messages)),
    )
    console.print(
        f'produced {messages:,} messages {{"order": i}} round-robin '
        f"in {time.monotonic() - began:.2f} s"
    )
    console.print(
        f"each costs ~{IO_SECONDS * 1000:g} ms of simulated IO; "
        f"consuming with 1, then {concurrency} worker threads"
    )
    runs: list[RunResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7} msg/s"),
        TextColumn("{task.fields[seconds]:>6} s"),
        console=console,
    ) as progress:
        for workers in (1, concurrency):
            run = _consume(bootstrap, topic, messages, workers, timeout, progress)
            runs.append(run)
            if not run.completed:
                break
    result = DemoResult(topic, messages, partitions, tuple(runs))
    _report(result, timeout, console)
    return result


class _Tally:
    """What one run saw. Written by worker threads (and the listener), read by the caller."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.done = threading.Event()
        # Guards everything below.
        self._lock = threading.Lock()
        self._processed = 0
        self._offsets: defaultdict[int, list[int]] = defaultdict(list)
        self._orders: list[int] = []
        self._assigned_at: float | None = None
        self._finished_at: float | None = None

    def record(self, partition: int, offset: int, order: int) -> None:
        """One message handled by ``consume()``."""
        with self._lock:
            self._offsets[partition].append(offset)
            self._orders.append(order)

    def on_processed(self, event: Event) -> None:
        """``worker.processed``: a batch of ``messages`` finished."""
        with self._lock:
            self._processed += event.payload["messages"]
            if self._processed >= self.expected and self._finished_at is None:
                self._finished_at = time.monotonic()
                self.done.set()

    def on_assigned(self, event: Event) -> None:
        """``rebalance.assigned``: the clock starts at the first assignment."""
        with self._lock:
            if event.payload["partitions"] and self._assigned_at is None:
                self._assigned_at = time.monotonic()

    def progress(self) -> tuple[int, float | None]:
        """Messages processed so far, and seconds since the first assignment (None before)."""
        with self._lock:
            if self._assigned_at is None:
                return self._processed, None
            end = self._finished_at or time.monotonic()
            return self._processed, end - self._assigned_at

    def result(self, concurrency: int, group_id: str, error: str | None) -> RunResult:
        processed, seconds = self.progress()
        with self._lock:
            handled = len(self._orders)
            distinct = sum(len(set(offsets)) for offsets in self._offsets.values())
            seen = set(self._orders)
            out_of_order = tuple(
                partition
                for partition, offsets in sorted(self._offsets.items())
                if any(a >= b for a, b in pairwise(offsets))
            )
        return RunResult(
            concurrency=concurrency,
            group_id=group_id,
            expected=self.expected,
            processed=processed,
            handled=handled,
            duplicates=handled - distinct,
            missing=sum(1 for order in range(self.expected) if order not in seen),
            out_of_order=out_of_order,
            seconds=seconds or 0.0,
            completed=self.done.is_set(),
            error=error,
        )


def _consumer_class(tally: _Tally) -> type[Consumer]:
    class OrderConsumer(Consumer):
        """Handles each order with ~1 ms of simulated IO and records where it came from."""

        def consume(self, messages: Messages) -> None:
            for message in messages:
                time.sleep(IO_SECONDS)
                tally.record(message.partition, message.offset, message.payload["order"])

    return OrderConsumer


def _consume(
    bootstrap: str,
    topic: str,
    messages: int,
    concurrency: int,
    timeout: float,
    progress: Progress,
) -> RunResult:
    """Consume the whole topic in a fresh consumer group with ``concurrency`` threads."""
    group_id = f"{topic}-c{concurrency}-{uuid.uuid4().hex[:6]}"
    tally = _Tally(messages)
    app = App(
        kafka={"bootstrap.servers": bootstrap},
        group_id=group_id,
        concurrency=concurrency,
        max_messages=MAX_MESSAGES,
        shutdown_timeout=30.0,
        log_events=False,
    )
    app.topic(topic, _consumer_class(tally))
    app.monitor.subscribe("worker.processed", tally.on_processed)
    app.monitor.subscribe("rebalance.assigned", tally.on_assigned)
    task = progress.add_task(f"concurrency {concurrency:>3}", total=messages, rate="-", seconds="-")
    deadline = time.monotonic() + timeout
    app.start()
    try:
        while not tally.done.wait(0.1):
            _show(progress, task, tally)
            if app.critical_error is not None or time.monotonic() >= deadline:
                break
    finally:
        app.stop()
    _show(progress, task, tally)
    error = app.critical_error
    return tally.result(concurrency, group_id, None if error is None else repr(error))


def _show(progress: Progress, task: TaskID, tally: _Tally) -> None:
    processed, seconds = tally.progress()
    rate = f"{processed / seconds:,.0f}" if seconds else "-"
    shown = f"{seconds:.2f}" if seconds is not None else "-"
    progress.update(task, completed=processed, rate=rate, seconds=shown)


def _report(result: DemoResult, timeout: float, console: Console) -> None:
    table = Table(
        title=f"{result.messages:,} messages, {result.partitions} partitions",
        caption="seconds: from partition assignment to the last message",
    )
    table.add_column("concurrency", justify="right")
    table.add_column("messages", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("msg/s", justify="right")
    table.add_column("speed-up", justify="right")
    for run in result.runs:
        table.add_row(
            str(run.concurrency),
            f"{run.processed:,}",
            f"{run.seconds:.2f}",
            f"{run.rate:,.0f}",
            f"{result.speed_up(run):.1f}x",
        )
    console.print(table)

    for run in result.runs:
        if not run.completed:
            why = f" (stopped: {run.error})" if run.error else ""
            console.print(
                f"[red]FAILED[/red]: concurrency {run.concurrency} processed {run.processed:,} "
                f"of {run.expected:,} messages within {timeout:g} s{why}"
            )
    if len(result.runs) < 2:
        console.print("[red]FAILED[/red]: the second run was skipped")

    if all(run.in_order for run in result.runs):
        console.print(
            "[green]ordering kept[/green]: each partition processed in strictly increasing "
            "offset order"
        )
    for run in result.runs:
        if not run.in_order:
            console.print(
                f"[red]ORDER BROKEN[/red]: concurrency {run.concurrency}, partitions "
                f"{', '.join(map(str, run.out_of_order))}"
            )

    if all(run.exactly_once for run in result.runs):
        console.print(
            f"[green]nothing lost[/green]: each run processed all {result.messages:,} "
            "messages, and none twice in this run (parafka promises at-least-once: after a crash "
            "or a rebalance some may run twice)"
        )
    for run in result.runs:
        if not run.exactly_once:
            console.print(
                f"[red]LOST OR REPEATED[/red]: concurrency {run.concurrency} handled "
                f"{run.handled:,} of {run.expected:,} messages ({run.duplicates:,} duplicates, "
                f"{run.missing:,} missing)"
            )
