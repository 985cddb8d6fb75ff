"""The goals the suite is held to, each computed from one run's entries.

:func:`evaluate` is a pure function from the suite's results (workload -> entries) to one
:class:`GoalRow` per goal: what was measured, the bar, and whether it was met, missed, or not
measured (and why). A goal that depends on the batch size is met only if it is met at every
max_messages of :data:`bench.workloads.MAX_MESSAGES`; a run that left some out (``--quick``)
leaves it "not measured" unless one that ran already missed. A parafka run that failed (timed
out, crashed) misses its goal. A row without a bar (the mixed workload's) is "reported". Runs on
the main thread after every workload finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bench.workloads import MAX_MESSAGES, PEERS, Entry

__all__ = [
    "ASYNC_MIN_THROUGHPUT",
    "CPU_MAX_US",
    "SWARM_MIN_RATIO",
    "GoalRow",
    "Verdict",
    "evaluate",
    "memory_bound",
]

Verdict = Literal["met", "missed", "not measured", "reported"]

OVERHEAD_MIN_RATIO = 0.9
IO_MIN_EFFICIENCY = 0.9
IO_LEVEL = 50
HOT_MIN_EFFICIENCY = 0.9
HOT_LANES = 25
OVERSUBSCRIBED_MIN_RATIO = 1.0
OVERSUBSCRIBED_LEVEL = 50
CPU_MAX_US = 12.0
CPU_LEVEL = 10
ASYNC_MIN_THROUGHPUT = 100_000.0
SWARM_MIN_RATIO = 1.8


@dataclass(frozen=True)
class GoalRow:
    """One goal of one run."""

    workload: str  # what is measured, as the goals table names it
    goal: str  # the bar
    figure: str  # what this run measured ("" when nothing was)
    verdict: Verdict
    reason: str = ""  # why it was missed or not measured

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Point:
    """The figure of one parafka row (one max_messages)."""

    text: str
    ok: bool


def evaluate(results: Mapping[str, Sequence[Entry]]) -> list[GoalRow]:
    """Every goal, in the goals table's order, from the entries of one run."""
    return [goal(results) for goal in _GOALS]


# --- one goal each -------------------------------------------------------------------------------


def overhead(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = "overhead: no-op vs the bare loop, identical librdkafka settings (median of 3)"
    goal = f">= {OVERHEAD_MIN_RATIO}"

    def point(entry: Entry) -> _Point:
        ratio = entry.ratio or 0.0
        return _Point(f"{ratio:.2f}", ratio >= OVERHEAD_MIN_RATIO)

    return _per_batch_size(workload, goal, results, "overhead", _parafka(), point, "")


def io_efficiency(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = f"IO-bound 1 ms, 50 partitions, c = {IO_LEVEL}"
    goal = f"efficiency >= {IO_MIN_EFFICIENCY}"

    def point(entry: Entry) -> _Point:
        efficiency = entry.efficiency or 0.0
        return _Point(f"{efficiency:.3f}", efficiency >= IO_MIN_EFFICIENCY)

    select = _parafka(IO_LEVEL)
    return _per_batch_size(workload, goal, results, "io", select, point, f"at c = {IO_LEVEL}")


def hot_partition(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    entries = results.get("hot", ())
    default = next(
        (str(e.extra["distribution"]) for e in entries if e.extra.get("default_distribution")),
        None,
    )
    workload = f"one hot partition, 1,000 keys, {HOT_LANES} lanes, the default distribution" + (
        f" ({default})" if default else ""
    )
    goal = f"efficiency >= {HOT_MIN_EFFICIENCY}"

    def select(entry: Entry) -> bool:
        return _parafka(HOT_LANES)(entry) and bool(entry.extra.get("default_distribution"))

    def point(entry: Entry) -> _Point:
        efficiency = entry.efficiency or 0.0
        return _Point(f"{efficiency:.3f}", efficiency >= HOT_MIN_EFFICIENCY)

    where = f"at {HOT_LANES} lanes with the default distribution"
    return _per_batch_size(workload, goal, results, "hot", select, point, where)


def oversubscribed(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = (
        f"more workers than partitions: c = {OVERSUBSCRIBED_LEVEL} vs c = 20 on 20 partitions "
        "(IO-bound 1 ms)"
    )
    goal = f"ratio >= {OVERSUBSCRIBED_MIN_RATIO}"

    def point(entry: Entry) -> _Point:
        ratio = entry.ratio or 0.0
        return _Point(f"{ratio:.3f}", ratio >= OVERSUBSCRIBED_MIN_RATIO)

    select = _parafka(OVERSUBSCRIBED_LEVEL)
    where = f"at c = {OVERSUBSCRIBED_LEVEL}"
    return _per_batch_size(workload, goal, results, "oversubscribed", select, point, where)


def cpu(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = f"CPU µs per message, IO-bound c = {CPU_LEVEL} (whole process)"
    goal = f"<= {CPU_MAX_US:g}"

    def point(entry: Entry) -> _Point:
        used = entry.outcome.cpu_us_per_message
        return _Point(f"{used:.1f}", used <= CPU_MAX_US)

    select = _parafka(CPU_LEVEL)
    return _per_batch_size(workload, goal, results, "io", select, point, f"at c = {CPU_LEVEL}")


def latency(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = "p99 latency at half capacity, 10 partitions"
    goal = "<= the best peer in the same run"
    peers = [
        (e.name, e.outcome.latency_ms["p99"])
        for e in results.get("latency", ())
        if e.contender in PEERS and e.outcome.finished and e.outcome.latency_ms
    ]
    if "latency" in results and not peers:
        return GoalRow(workload, goal, "", "not measured", "no peer finished the latency workload")
    best_name, best = min(peers, key=lambda p: p[1]) if peers else ("", 0.0)

    def point(entry: Entry) -> _Point:
        p99 = (entry.outcome.latency_ms or {}).get("p99")
        if p99 is None:
            return _Point("no latencies", False)
        return _Point(f"{p99:.1f} ms", p99 <= best)

    row = _per_batch_size(workload, goal, results, "latency", _parafka(), point, "")
    if peers:
        row = _with_figure(row, f"best peer: {best_name} {best:.1f} ms")
    return row


def async_consume(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = (
        "`async def consume`, 1 ms awaited IO, 1,000 in flight (20 partitions x 50 lanes), 2 cores"
    )
    goal = f">= {ASYNC_MIN_THROUGHPUT:,.0f} msg/s, order and offsets kept"

    def point(entry: Entry) -> _Point:
        fast = entry.throughput >= ASYNC_MIN_THROUGHPUT
        ordered = entry.outcome.order_violations == 0
        at_end = _committed_to_end(entry)
        text = f"{entry.throughput:,.0f} msg/s"
        if not ordered:
            violations = entry.outcome.order_violations
            text += (
                ", order not checked" if violations is None else f", order broken ({violations:,})"
            )
        if not at_end:
            text += ", offsets short of the end"
        return _Point(text, fast and ordered and at_end)

    row = _per_batch_size(workload, goal, results, "async", _parafka(), point, "")
    beside = [
        f"{e.name} {e.throughput:,.0f} msg/s"
        + ("" if e.outcome.finished else " (unfinished)")
        + (
            ""
            if e.outcome.order_violations is None
            else ", order kept"
            if e.outcome.order_violations == 0
            else f", order broken ({e.outcome.order_violations:,})"
        )
        for e in results.get("async", ())
        if e.contender in PEERS or e.contender == "parafka_swarm"
    ]
    if beside:
        row = _with_figure(row, "beside it: " + "; ".join(beside))
    return row


def memory(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = "1,000 partitions x 100 KB messages, slow handler"
    goal = "peak RSS <= the byte budget the user sets + the baseline (an app holding nothing)"
    if "memory" not in results:
        return GoalRow(workload, goal, "", "not measured", "the memory workload did not run")
    entries = results["memory"]
    baseline = _memory_baseline(entries)
    app = _memory_app(entries)
    if app is None:
        return GoalRow(workload, goal, "", "not measured", "no parafka row in the memory workload")
    parts = [f"peak RSS {app.outcome.peak_rss_mb:.0f} MiB"]
    if baseline is not None and baseline.outcome.finished:
        parts.append(f"baseline {baseline.outcome.peak_rss_mb:.0f} MiB")
    budget = app.extra.get("budget_bytes")
    if budget is None:
        why = app.extra.get("budget_unavailable", "no budget was set")
        return GoalRow(workload, goal, ", ".join(parts), "not measured", f"not available: {why}")
    parts.append(f"budget {int(budget) / 2**20:.0f} MiB")
    bound = memory_bound(entries)
    if bound is None:
        why = "the baseline did not run" if baseline is None else "the baseline run failed"
        return GoalRow(workload, goal, ", ".join(parts), "not measured", why)
    if not app.outcome.finished:
        return GoalRow(
            workload, goal, ", ".join(parts), "missed", f"the run failed: {app.outcome.error}"
        )
    parts.append(f"bound {bound:.0f} MiB")
    met = app.outcome.peak_rss_mb <= bound
    reason = "" if met else f"{app.outcome.peak_rss_mb - bound:.0f} MiB over the bound"
    return GoalRow(workload, goal, ", ".join(parts), "met" if met else "missed", reason)


def memory_bound(entries: Sequence[Entry]) -> float | None:
    """parafka's bound in the memory workload, MiB: its byte budget plus the baseline's peak
    RSS; None when it had no budget or the baseline did not finish."""
    baseline = _memory_baseline(entries)
    app = _memory_app(entries)
    budget = None if app is None else app.extra.get("budget_bytes")
    if baseline is None or not baseline.outcome.finished or budget is None:
        return None
    return baseline.outcome.peak_rss_mb + int(budget) / 2**20


def _memory_baseline(entries: Sequence[Entry]) -> Entry | None:
    return next((e for e in entries if e.extra.get("baseline")), None)


def _memory_app(entries: Sequence[Entry]) -> Entry | None:
    return next(
        (e for e in entries if e.contender == "parafka_app" and "budget_bytes" in e.extra), None
    )


def swarm_cpu(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = (
        "CPU-bound 200 µs/msg, 20 partitions: swarm(2) vs parafka threads in one process (same run)"
    )
    goal = f"ratio >= {SWARM_MIN_RATIO}, order and offsets kept"
    return _swarm_row(workload, goal, results, "cpu_bound", SWARM_MIN_RATIO)


def swarm_mixed(results: Mapping[str, Sequence[Entry]]) -> GoalRow:
    workload = (
        "mixed (even places 200 µs CPU, odd places 1 ms sleep), 20 partitions: swarm(2) vs "
        "parafka threads in one process (same run)"
    )
    return _swarm_row(workload, "no bar: the ratio is reported", results, "mixed", None)


def _swarm_row(
    workload: str,
    goal: str,
    results: Mapping[str, Sequence[Entry]],
    name: str,
    bar: float | None,
) -> GoalRow:
    """swarm(2) ÷ parafka threads in one process in workload ``name``; met when the ratio is at
    least ``bar`` and both kept order and committed to the end (``bar`` None: reported). The
    ratio is of the whole runs (first message to last, as everywhere); the swarm's throughput
    from when both nodes worked is shown beside it, not judged."""
    if name not in results:
        return GoalRow(workload, goal, "", "not measured", f"the {name} workload did not run")
    entries = results[name]
    threads = next((e for e in entries if e.contender == "parafka_app"), None)
    swarm = next((e for e in entries if e.contender == "parafka_swarm"), None)
    if threads is None or swarm is None:
        which = "parafka in one process" if threads is None else "parafka swarm"
        return GoalRow(workload, goal, "", "not measured", f"{which} did not run in {name}")
    if swarm.outcome.unsupported:
        return GoalRow(workload, goal, "", "not measured", swarm.outcome.unsupported)
    failed = [
        f"the {label} run failed ({e.outcome.error or 'unfinished'})"
        for label, e in (("one-process", threads), ("swarm", swarm))
        if not e.outcome.finished
    ]
    if failed:
        return GoalRow(workload, goal, "", "missed", "; ".join(failed))
    ratio = swarm.throughput / threads.throughput if threads.throughput else 0.0
    figure = f"{ratio:.2f} ({swarm.throughput:,.0f} vs {threads.throughput:,.0f} msg/s)"
    problems = [
        f"{label}: {problem}"
        for label, e in (("one process", threads), ("swarm", swarm))
        for problem in _order_and_offsets(e)
    ]
    if swarm.outcome.redelivered:
        figure += f", swarm processed {swarm.outcome.redelivered:,} twice"
    later = swarm.outcome.all_working_throughput
    if later is not None and swarm.outcome.all_working_after_s is not None and threads.throughput:
        figure += (
            f"; from when both nodes worked ({swarm.outcome.all_working_after_s:.1f} s in): "
            f"{later / threads.throughput:.2f}"
        )
    if problems:
        figure += "; " + "; ".join(problems)
    beside = [
        f"{e.name} {e.ratio:.2f}"
        + ("" if e.outcome.finished else " (unfinished)")
        + _order_words(e.outcome.order_violations)
        for e in entries
        if e.contender in _PROCESS_PEERS and e.ratio is not None
    ]
    if beside:
        figure += "; beside it: " + "; ".join(beside)
    if bar is None:
        return GoalRow(workload, goal, figure, "reported")
    short = ratio < bar
    if short or problems:
        reason = "; ".join(([f"ratio {ratio:.2f} < {bar}"] if short else []) + problems)
        return GoalRow(workload, goal, figure, "missed", reason)
    return GoalRow(workload, goal, figure, "met")


def _order_and_offsets(entry: Entry) -> list[str]:
    """What a row lacks of 'order and offsets kept'."""
    problems = []
    violations = entry.outcome.order_violations
    if violations is None:
        problems.append("order not checked")
    elif violations:
        problems.append(f"order broken ({violations:,})")
    if not _committed_to_end(entry):
        problems.append("offsets short of the end")
    return problems


def _order_words(violations: int | None) -> str:
    if violations is None:
        return ""
    return ", order kept" if violations == 0 else f", order broken ({violations:,})"


#: The peers' multi-process contenders of the CPU workloads (bench.cpu).
_PROCESS_PEERS = ("peer_arroyo_multiprocessing", "peer_faststream_workers")


# --- shared --------------------------------------------------------------------------------------


def _parafka(level: int | None = None) -> Callable[[Entry], bool]:
    """Selects parafka's rows that ran at one max_messages (at ``level``, when given)."""

    def select(entry: Entry) -> bool:
        return (
            entry.contender == "parafka_app"
            and entry.max_messages is not None
            and (level is None or entry.level == level)
        )

    return select


def _per_batch_size(
    workload: str,
    goal: str,
    results: Mapping[str, Sequence[Entry]],
    name: str,
    select: Callable[[Entry], bool],
    point: Callable[[Entry], _Point],
    where: str,
) -> GoalRow:
    """The row of a goal that must hold at each of :data:`MAX_MESSAGES`: ``select`` picks
    parafka's rows of workload ``name`` (``where`` says which, for the reason when none ran)
    and ``point`` gives each one's figure."""
    if name not in results:
        return GoalRow(workload, goal, "", "not measured", f"the {name} workload did not run")
    points: dict[int, _Point] = {}
    for entry in results[name]:
        if not select(entry) or entry.max_messages is None:
            continue
        if entry.outcome.unsupported:
            continue
        if entry.outcome.finished:
            points[entry.max_messages] = point(entry)
        else:
            points[entry.max_messages] = _Point(f"failed ({entry.outcome.error})", False)
    if not points:
        why = " ".join(part for part in ("parafka did not run", where, f"in {name}") if part)
        return GoalRow(workload, goal, "", "not measured", why)
    figure = "; ".join(f"{p.text} at max_messages {m}" for m, p in sorted(points.items()))
    short = [m for m, p in sorted(points.items()) if not p.ok]
    missing = [m for m in MAX_MESSAGES if m not in points]
    if short:
        return GoalRow(workload, goal, figure, "missed", f"not met at max_messages {_list(short)}")
    if missing:
        return GoalRow(
            workload, goal, figure, "not measured", f"max_messages {_list(missing)} did not run"
        )
    return GoalRow(workload, goal, figure, "met")


def _with_figure(row: GoalRow, more: str) -> GoalRow:
    figure = f"{row.figure}; {more}" if row.figure else more
    return GoalRow(row.workload, row.goal, figure, row.verdict, row.reason)


def _committed_to_end(entry: Entry) -> bool:
    """Whether the row's group committed, on every partition, the offset after the last
    message it had to process (the async workload records both)."""
    committed = entry.extra.get("committed")
    expected = entry.extra.get("expected")
    if not committed or not expected:
        return False
    return all(committed.get(p) == n for p, n in expected.items())


def _list(values: Sequence[int]) -> str:
    return ", ".join(map(str, values))


_GOALS: tuple[Callable[[Mapping[str, Sequence[Entry]]], GoalRow], ...] = (
    overhead,
    io_efficiency,
    hot_partition,
    oversubscribed,
    cpu,
    latency,
    async_consume,
    memory,
    swarm_cpu,
    swarm_mixed,
)
