"""How many iterations of :func:`bench.contenders.work.spin` make the CPU workloads' ~200 µs.

Calibrated once, in the benchmark's parent process on its main thread, before the CPU
workloads run; the count goes to every contender in its spec (``cpu_iterations``), so that all
of them do the same work, and into the results (``"cpu_calibration"``). The contenders run with
the same base interpreter (the peers' virtualenvs are made from it), so the same count costs
them the same.

Rounds are timed in CPU time of the calibrating thread (``time.thread_time``), so that being
preempted does not count; the cost of one iteration is the fastest round's. Other work on the
machine still changes what an iteration costs (on this shared two-core machine: 116-121 ns with
little else running, 163-171 ns, in CPU time too, under a load average of 5), so the count is
this run's, and holds for the contenders of this run only as long as the load does.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.contenders.work import spin

__all__ = ["TARGET_US", "Calibration", "calibrate", "iterations_for"]

#: The CPU work per message the issue asks for, in microseconds.
TARGET_US = 200.0
PROBE_ITERATIONS = 100_000
ROUNDS = 7
CHECKS = 201


@dataclass(frozen=True)
class Calibration:
    """The outcome of :func:`calibrate`."""

    target_us: float
    iterations: int  # per message
    ns_per_iteration: float  # the fastest round's
    measured_us: float  # median CPU time of CHECKS calls of spin(iterations), afterwards
    rounds_ms: tuple[float, ...]  # each round of PROBE_ITERATIONS, ms

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def iterations_for(target_s: float, probe_iterations: int, rounds_s: Sequence[float]) -> int:
    """Iterations costing ``target_s`` when ``probe_iterations`` took ``rounds_s`` (the
    fastest round counts); at least 1."""
    if not rounds_s or min(rounds_s) <= 0 or probe_iterations <= 0:
        raise ValueError("calibration needs rounds that took some time")
    per_iteration = min(rounds_s) / probe_iterations
    return max(1, round(target_s / per_iteration))


def calibrate(
    target_us: float = TARGET_US,
    clock: Callable[[], float] = time.thread_time,
    probe_iterations: int = PROBE_ITERATIONS,
    rounds: int = ROUNDS,
    checks: int = CHECKS,
) -> Calibration:
    """Time ``rounds`` rounds of ``probe_iterations`` (after one untimed round), derive the
    count for ``target_us``, and time ``checks`` calls of it to report what it costs here."""
    spin(probe_iterations)  # warm-up
    timed = []
    for _ in range(rounds):
        began = clock()
        spin(probe_iterations)
        timed.append(clock() - began)
    iterations = iterations_for(target_us / 1e6, probe_iterations, timed)
    samples = []
    for _ in range(checks):
        began = clock()
        spin(iterations)
        samples.append(clock() - began)
    return Calibration(
        target_us=target_us,
        iterations=iterations,
        ns_per_iteration=min(timed) / probe_iterations * 1e9,
        measured_us=statistics.median(samples) * 1e6,
        rounds_ms=tuple(round(t * 1000, 3) for t in timed),
    )
