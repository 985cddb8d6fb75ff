"""The results of a benchmark run: a JSON document on disk and a table on the terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.io_scaling import IoScalingResult
from bench.overhead import BATCH, OverheadResult
from bench.vp import VpResult

__all__ = ["RESULTS", "render", "write_results"]

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(document: dict[str, Any], stamp: str, directory: Path = RESULTS) -> Path:
    """Write ``engine-<stamp>.json`` and ``engine-latest.json`` (each via a temporary file)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    target = directory / f"engine-{stamp}.json"
    for path in (target, directory / "engine-latest.json"):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    return target


def _verdict(value: float, goal: float) -> str:
    return "ok" if value >= goal else "BELOW GOAL"


def _overhead_lines(result: OverheadResult) -> list[str]:
    lines = [
        f"overhead: {result.messages:,} messages x 16 B, {result.partitions} partitions, "
        f"parafka concurrency {result.concurrency}, batches of {BATCH}, "
        f"{len(result.runs) // 2} runs each, alternating",
        f"  timing: {result.timing}",
        f"  {'':<24}{'median msg/s':>14}  {'each run (msg/s)':<36}{'max join s':>10}",
    ]
    for kind, label, median in (
        ("bare", "bare confluent-kafka", result.bare_median),
        ("parafka", "parafka (no-op consumer)", result.parafka_median),
    ):
        runs = [r for r in result.runs if r.kind == kind]
        each = "  ".join(f"{r.throughput:,.0f}" for r in runs)
        join = max(r.to_first_message for r in runs)
        lines.append(f"  {label:<24}{median:>14,.0f}  {each:<36}{join:>10.2f}")
    lines.append(
        f"  {'ratio parafka / bare':<24}{result.ratio:>14.3f}  "
        f"goal >= {result.goal:.2f}: {_verdict(result.ratio, result.goal)}"
    )
    wrong = [r for r in result.runs if r.processed != result.messages]
    lines += [f"  WARNING: a {r.kind} run processed {r.processed:,} messages" for r in wrong]
    return lines


def _io_lines(result: IoScalingResult) -> list[str]:
    lines = [
        f"io-scaling: L = {result.sleep_cost * 1000:.4f} ms per time.sleep(0.001) "
        f"(mean of {result.sleep_samples:,}); {result.partitions} partitions, "
        f"max_messages {result.max_messages}, ~{result.target_seconds:g} s per level",
        f"  timing: {result.timing}",
        f"  {'concurrency':>11}{'messages':>10}{'seconds':>9}{'msg/s':>10}{'ideal c/L':>11}"
        f"{'efficiency':>12}{'goal':>9}  {'':<10}{'join s':>7}",
    ]
    for level in result.levels:
        lines.append(
            f"  {level.concurrency:>11}{level.messages:>10,}{level.seconds:>9.2f}"
            f"{level.throughput:>10,.0f}{level.ideal:>11,.0f}{level.efficiency:>12.3f}"
            f"{'>= ' + format(level.goal, '.2f'):>9}  {_verdict(level.efficiency, level.goal):<10}"
            f"{level.join_seconds:>7.2f}"
        )
    wrong = [level for level in result.levels if level.processed != level.messages]
    lines += [
        f"  WARNING: concurrency {level.concurrency} processed {level.processed:,} of "
        f"{level.messages:,} messages"
        for level in wrong
    ]
    return lines


def _vp_lines(result: VpResult) -> list[str]:
    lines = [
        f"vp-scaling: ONE partition, {result.keys:,} keys, VirtualPartitions(max_partitions="
        f"concurrency, distribution={result.distribution}); L = {result.sleep_cost * 1000:.4f} "
        f"ms; max_messages {result.max_messages}, ~{result.target_seconds:g} s per level",
        f"  timing: {result.timing}",
        f"  {'concurrency':>11}{'messages':>10}{'seconds':>9}{'msg/s':>10}{'ideal c/L':>11}"
        f"{'efficiency':>12}{'goal':>9}  {'':<10}{'hash bound':>11}{'join s':>7}",
    ]
    for level in result.levels:
        bound = "-" if level.hash_bound is None else f"{level.hash_bound:.3f}"
        lines.append(
            f"  {level.concurrency:>11}{level.messages:>10,}{level.seconds:>9.2f}"
            f"{level.throughput:>10,.0f}{level.ideal:>11,.0f}{level.efficiency:>12.3f}"
            f"{'>= ' + format(level.goal, '.2f'):>9}  {_verdict(level.efficiency, level.goal):<10}"
            f"{bound:>11}{level.join_seconds:>7.2f}"
        )
    lines += [
        f"  WARNING: concurrency {level.concurrency} processed {level.processed:,} of "
        f"{level.messages:,} messages"
        for level in result.levels
        if level.processed != level.messages
    ]
    r = result.restart
    lines += [
        f"vp-restart: {r.messages:,} messages, {r.lanes} lanes = workers; app A stopped cleanly "
        f"at half, app B (same group) until every offset was processed",
        f"  A: processed {r.a_processed:,}, {r.busy_at_stop} batches in flight just before stop() "
        f"({r.finished_during_stop} messages finished during the stop), clean stop {r.a_clean}, "
        f"committed {r.a_committed:,} + {r.a_finished_above:,} finished above it",
        f"  B: processed {r.b_processed:,}, clean stop {r.b_clean}, committed {r.b_committed:,}",
        f"  duplicates (offsets processed twice or more): {r.duplicates}; missed offsets: "
        f"{r.missed}",
        "  goal: duplicates only for messages in flight at the stop (0 after a clean stop), "
        f"none missed, B commits {r.messages:,}: {'ok' if r.met_goal else 'NOT MET'}",
    ]
    return lines


def render(
    header: str,
    overhead: OverheadResult | None,
    io_scaling: IoScalingResult | None,
    vp: VpResult | None = None,
) -> str:
    """The human-readable table of one run."""
    lines = [header, ""]
    if overhead is not None:
        lines += [*_overhead_lines(overhead), ""]
    if io_scaling is not None:
        lines += [*_io_lines(io_scaling), ""]
    if vp is not None:
        lines += [*_vp_lines(vp), ""]
    return "\n".join(lines)
