"""The suite's results as tables (terminal and Markdown) and PNG plots.

Pure functions of the entries, run on the main thread after every workload finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.goals import GoalRow, memory_bound
from bench.workloads import MAX_MESSAGES, Entry

__all__ = ["GOALS", "goals_markdown", "goals_text", "markdown", "plot", "text"]

_EACH = "at each max_messages"
GOALS = {
    "overhead": f"parafka >= 0.9 x the bare loop (median of 3), {_EACH}",
    "io": f"parafka's efficiency >= 0.9 at c = 50, and <= 12 CPU us per message at c = 10, {_EACH}",
    "oversubscribed": f"parafka at c = 50 >= at c = 20 (ratio >= 1.0), {_EACH}",
    "hot": f"efficiency >= 0.9 at 25 lanes with parafka's default distribution, {_EACH}",
    "skew": "(reported, no goal): the nine fast partitions against their ideal (9 / L)",
    "latency": f"parafka's p99 <= the best peer's p99, each at half of its own capacity, {_EACH}",
    "async": f"parafka >= 100,000 msg/s with per-key order and committed offsets kept, {_EACH}",
    "memory": "parafka's peak RSS <= max_buffered_bytes + the baseline (the app holding nothing)",
    "cpu_bound": "parafka swarm(2) >= 1.8 x parafka threads in one process, order and offsets kept",
    "mixed": "(reported, no goal): parafka swarm(2) ÷ parafka threads in one process",
}

TITLES = {
    "overhead": "Overhead: no-op processing, 10 partitions, 100 B messages",
    "io": "IO-bound: 1 ms sleep per message, 50 partitions",
    "oversubscribed": "More workers than partitions: 1 ms sleep per message, 20 partitions",
    "hot": "One hot partition: 1,000 keys, 1 ms sleep per message",
    "skew": "Skew: 10 partitions, concurrency 10, partition 0 costs 50 ms, the others 1 ms",
    "latency": "Latency: steady rate at half of capacity, 1 ms per message, 10 partitions",
    "async": "async def consume: await asyncio.sleep(0.001), 20 partitions x 50 lanes",
    "memory": "Memory: 100 KB messages, 1,000 partitions, backlog on the broker, 20 ms each",
    "cpu_bound": "CPU-bound: ~200 µs of pure-Python work per message, 20 partitions",
    "mixed": "Mixed: even places ~200 µs of CPU work, odd places a 1 ms sleep, 20 partitions",
}


def _row(entry: Entry) -> list[str]:
    o = entry.outcome
    if o.unsupported:
        return [entry.name, str(entry.level or ""), "n/a", "", "", "", "", "", o.unsupported]
    latency = ""
    if o.latency_ms:
        latency = f"{o.latency_ms['p50']:.1f} / {o.latency_ms['p99']:.1f}"
    return [
        entry.name,
        str(entry.level or ""),
        f"{entry.throughput:,.0f}",
        f"{entry.efficiency:.3f}" if entry.efficiency is not None else "",
        f"{entry.ratio:.2f}" if entry.ratio is not None else "",
        latency,
        f"{o.cpu_us_per_message:.1f}" if o.processed else "",
        f"{o.peak_rss_mb:.0f}" if o.processed else "",
        entry.note or "",
    ]


HEADER = [
    "contender",
    "c",
    "msg/s",
    "efficiency",
    "x baseline",
    "p50 / p99 ms",
    "CPU us/msg",
    "peak RSS MB",
    "note",
]


def _columns(entries: Sequence[Entry]) -> list[int]:
    """The columns that hold something for this workload."""
    rows = [_row(e) for e in entries]
    return [i for i in range(len(HEADER)) if i < 3 or any(r[i] for r in rows)]


def text(workload: str, entries: Sequence[Entry]) -> str:
    columns = _columns(entries)
    rows = [[HEADER[i] for i in columns]] + [[_row(e)[i] for i in columns] for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = [TITLES[workload], f"  goal: {GOALS[workload]}"]
    for r in rows:
        cells = [
            c.ljust(w) if i in (0, len(columns) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def markdown(workload: str, entries: Sequence[Entry]) -> str:
    columns = _columns(entries)
    lines = [f"### {TITLES[workload]}", "", f"Goal: {GOALS[workload]}.", ""]
    lines.append("| " + " | ".join(HEADER[i] for i in columns) + " |")
    lines.append("|" + "|".join("---" if i in (0, 8) else "---:" for i in columns) + "|")
    for entry in entries:
        row = _row(entry)
        lines.append("| " + " | ".join(row[i] for i in columns) + " |")
    return "\n".join(lines) + "\n"


_VERDICTS = {
    "met": "MET",
    "missed": "MISSED",
    "not measured": "NOT MEASURED",
    "reported": "REPORTED",
}
_SIZES = ", ".join(map(str, MAX_MESSAGES))
GOALS_TITLE = f"Goals (a goal that depends on the batch size must hold at max_messages {_SIZES})"


def goals_text(rows: Sequence[GoalRow]) -> str:
    """The goals for the terminal: one block per goal, its verdict first."""
    width = max(len(v) for v in _VERDICTS.values())
    lines = [GOALS_TITLE]
    for row in rows:
        lines.append(f"  {_VERDICTS[row.verdict]:<{width}}  {row.workload}  [goal: {row.goal}]")
        indent = " " * (width + 4)
        if row.figure:
            lines.append(f"{indent}{row.figure}")
        if row.reason:
            lines.append(f"{indent}({row.reason})")
    return "\n".join(lines)


def goals_markdown(rows: Sequence[GoalRow]) -> str:
    lines = [f"### {GOALS_TITLE}", "", "| workload | goal | measured | met? |", "|---|---|---|---|"]
    for row in rows:
        verdict = {"met": "yes", "reported": "(no bar)"}.get(row.verdict, f"**{row.verdict}**")
        if row.reason:
            verdict += f": {row.reason}"
        cells = [row.workload, row.goal, row.figure or "—", verdict]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot(workload: str, entries: Sequence[Entry], directory: Path) -> Path | None:
    """One PNG per workload: efficiency against concurrency for the scaling workloads, bars
    for the others. Returns the file, or None when nothing ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [e for e in entries if not e.outcome.unsupported and e.outcome.processed]
    if not ran:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    if workload in ("io", "hot"):
        names = list(dict.fromkeys(e.name for e in ran))
        for name in names:
            points = sorted((e.level, e.efficiency or 0.0) for e in ran if e.name == name)
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o", label=name)
        axes.axhline(0.9, color="grey", linestyle=":", linewidth=1)
        axes.set_xlabel(
            "lanes (virtual partitions) = workers"
            if workload == "hot"
            else "concurrency (worker threads)"
        )
        axes.set_ylabel("efficiency = measured / (c / L)")
        axes.set_ylim(0, 1.1)
        axes.legend(fontsize=8)
    else:
        names = [e.name for e in ran]
        if workload == "oversubscribed":
            names = [f"{e.name}, c={e.level}" for e in ran]
        if workload == "overhead":
            values = [e.ratio or 0.0 for e in ran]
            label = "throughput / bare confluent-kafka loop"
        elif workload == "skew":
            values = [e.efficiency or 0.0 for e in ran]
            label = "fast partitions: measured / (9 / L)"
        elif workload == "latency":
            values = [(e.outcome.latency_ms or {}).get("p99", 0.0) for e in ran]
            label = "p99 end-to-end latency, ms (p50 marked)"
        elif workload in ("async", "oversubscribed", "cpu_bound", "mixed"):
            values = [e.throughput for e in ran]
            label = "messages per second"
        else:
            values = [e.outcome.peak_rss_mb for e in ran]
            label = "peak RSS, MB"
        bars = axes.barh(names, values, color="tab:blue")
        if workload == "latency":
            p50 = [(e.outcome.latency_ms or {}).get("p50", 0.0) for e in ran]
            axes.barh(names, p50, color="tab:orange", label="p50")
            axes.set_xscale("log")
            bars.set_label("p99")
            axes.legend(fontsize=8)
        if workload == "memory" and (bound := memory_bound(entries)) is not None:
            bound_label = f"parafka's bound: budget + baseline = {bound:.0f} MB"
            axes.axvline(bound, color="grey", linestyle=":", linewidth=1, label=bound_label)
            axes.legend(fontsize=8)
        axes.bar_label(bars, fmt="%.2f" if workload in ("overhead", "skew") else "%.0f", fontsize=8)
        axes.set_xlabel(label)
        axes.invert_yaxis()
    figure.suptitle(TITLES[workload], fontsize=9)
    figure.tight_layout()
    path = directory / f"{workload}.png"
    figure.savefig(path)
    plt.close(figure)
    return path
