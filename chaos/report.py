"""The results table of a chaos session and the soak's memory verdict (pure, no I/O)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from chaos.runner import RunResult

__all__ = ["rss_growth", "summarize", "table"]

#: The soak fails when the long-lived member's RSS over its last quarter exceeds its RSS over
#: the second quarter (after warm-up) by more than this factor.
RSS_TOLERANCE = 1.15


def summarize(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per scenario: runs, messages, lost, duplicates, order, commits ahead, recovery.

    ``duplicates_share``: duplicate runs per message over all runs of the scenario (the
    checker's ``duplicate_share``, pooled), the price of at-least-once for that fault class."""
    rows = []
    names = list(dict.fromkeys(r.scenario for r in results))
    for name in names:
        runs = [r for r in results if r.scenario == name]
        duplicates = [r.report.duplicates for r in runs]
        messages = sum(r.report.acked for r in runs)
        recoveries = [r.report.max_recovery for r in runs if r.report.max_recovery is not None]
        rows.append(
            {
                "scenario": name,
                "fault": runs[0].fault,
                "protocol": runs[0].protocol,
                "vp": runs[0].vp,
                "runs": len(runs),
                "faults": sum(len(r.faults) for r in runs),
                "messages": messages,
                "lost": sum(r.report.lost for r in runs),
                "duplicates": sum(duplicates),
                "duplicates_max": max(duplicates),
                "duplicates_mean": round(statistics.mean(duplicates), 1),
                "duplicates_share": round(sum(duplicates) / messages, 5) if messages else 0.0,
                "duplicated_messages": sum(r.report.duplicated_messages for r in runs),
                "aborted": sum(r.report.aborted for r in runs),
                "aborted_processed": sum(r.report.aborted_processed for r in runs),
                "max_deliveries": max(r.report.max_deliveries for r in runs),
                "order_violations": sum(r.report.order_violations for r in runs),
                "commits_ahead": sum(r.report.commits_ahead for r in runs),
                "commits_checked": sum(r.report.commits_checked for r in runs),
                "dead_letters": sum(r.report.dead_lettered for r in runs),
                "injected": {
                    tag: sum(r.report.injected.get(tag, 0) for r in runs)
                    for tag in sorted({t for r in runs for t in r.report.injected})
                },
                "nodes": {
                    name: sum(r.nodes.get(name, 0) for r in runs)
                    for name in sorted({n for r in runs for n in r.nodes})
                },
                "final_equal_end": all(not r.report.final_mismatches for r in runs),
                "recovery_max_s": round(max(recoveries), 1) if recoveries else None,
                "problems": sum(len(r.problems) for r in runs),
                "harness_errors": [f"seed {r.seed}: {e}" for r in runs for e in r.harness_errors],
                "ok": all(r.ok for r in runs),
            }
        )
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        "scenario",
        "runs",
        "faults",
        "messages",
        "lost",
        "dup max/mean",
        "dup %",
        "order",
        "ahead",
        "committed=end",
        "recovery max",
        "ok",
    )
    lines = [header]
    for row in rows:
        recovery = row["recovery_max_s"]
        lines.append(
            (
                row["scenario"],
                str(row["runs"]),
                str(row["faults"]),
                str(row["messages"]),
                str(row["lost"]),
                f"{row['duplicates_max']}/{row['duplicates_mean']}",
                f"{100 * row['duplicates_share']:.2f} %",
                str(row["order_violations"]),
                f"{row['commits_ahead']}/{row['commits_checked']}",
                "yes" if row["final_equal_end"] else "NO",
                "-" if recovery is None else f"{recovery} s",
                _verdict(row),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def _verdict(row: dict[str, Any]) -> str:
    """``ok``; ``FAILED`` (a guarantee or a member broke); ``ERROR`` (the harness itself failed,
    the run proves nothing: see the row's ``harness_errors``)."""
    if row["harness_errors"]:
        return "ERROR"
    return "ok" if row["ok"] else "FAILED"


def rss_growth(results: Sequence[RunResult]) -> dict[str, Any] | None:
    """Memory of the soak's long-lived member (slot 0, never killed): second quarter against
    last quarter of its samples."""
    samples = [(t, rss) for r in results for t, name, rss in r.rss if name == "member-0-1"]
    if len(samples) < 8:
        return None
    quarter = len(samples) // 4
    early = statistics.median(rss for _, rss in samples[quarter : 2 * quarter])
    late = statistics.median(rss for _, rss in samples[-quarter:])
    return {
        "samples": len(samples),
        "first_mib": round(samples[0][1] / 2**20, 1),
        "second_quarter_mib": round(early / 2**20, 1),
        "last_quarter_mib": round(late / 2**20, 1),
        "max_mib": round(max(rss for _, rss in samples) / 2**20, 1),
        "ok": late <= early * RSS_TOLERANCE,
    }
