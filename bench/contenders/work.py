"""What processing one message costs: a sleep (the IO stand-in), pure-Python CPU work, or both.

Standard library only: this module runs inside each peer's own virtualenv, and in the processes
a contender starts (a pool, workers, swarm nodes).

The CPU work is :func:`spin`: ``iterations`` steps of a linear congruential generator, pure
Python, holding the GIL the whole time, deterministic (the same iterations cost the same work in
every contender). The benchmark's parent process calibrates the count once
(:mod:`bench.calibration`) and gives it to every contender in its spec (``cpu_iterations``).
Which messages pay what is :func:`plan`: every message pays ``cost_ms`` of sleep plus the CPU
work, or, in a ``mixed`` spec, messages at even places of their partition do the CPU work and
those at odd places sleep.

Called on whatever thread (or event loop) the contender processes messages on; no shared state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Plan", "perform", "perform_async", "plan", "spin"]

_MULTIPLIER = 1103515245
_INCREMENT = 12345
_MASK = 0x7FFFFFFF


def spin(iterations: int, seed: int = 1) -> int:
    """``iterations`` steps of a linear congruential generator from ``seed``: pure-Python work
    whose cost is proportional to ``iterations``. Returns the last state, so that nothing could
    skip the loop."""
    state = seed & _MASK
    for _ in range(iterations):
        state = (state * _MULTIPLIER + _INCREMENT) & _MASK
    return state


@dataclass(frozen=True, slots=True)
class Plan:
    """What one message costs: ``iterations`` of :func:`spin` from ``seed``, then ``sleep``
    seconds."""

    iterations: int
    sleep: float
    seed: int


def plan(cpu_iterations: int, sleep: float, mixed: bool, sequence: int | None) -> Plan:
    """The cost of a message at place ``sequence`` of its partition (None: unknown, as place 0).

    Not mixed: the CPU work and the sleep, both (either may be 0). Mixed: the CPU work alone at
    even places, the sleep alone at odd ones. The seed is the place, so that messages differ."""
    place = sequence or 0
    if mixed:
        if place % 2 == 0:
            return Plan(cpu_iterations, 0.0, place)
        return Plan(0, sleep, place)
    return Plan(cpu_iterations, sleep, place)


def perform(cost: Plan) -> None:
    """Pay ``cost`` on this thread: the CPU work, then a blocking sleep."""
    if cost.iterations:
        spin(cost.iterations, cost.seed)
    if cost.sleep > 0:
        time.sleep(cost.sleep)


async def perform_async(cost: Plan) -> None:
    """:func:`perform` for asyncio: the CPU work blocks the loop (it is CPU), the sleep is an
    ``asyncio.sleep``."""
    import asyncio

    if cost.iterations:
        spin(cost.iterations, cost.seed)
    if cost.sleep > 0:
        await asyncio.sleep(cost.sleep)
