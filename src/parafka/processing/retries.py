"""Retry, back-off and dead-letter decisions for one lane: pure functions of its retry state.

No locks, no clock, no I/O: the coordinator calls these under its lock with the lane's fields
and applies the result. A failed batch of several messages is run again one message at a time
(*isolation*) up to its last offset, so that the failing message is found and the others are
neither re-run after they succeed nor reordered. A single message that failed more than
``max_retries`` times goes to the dead letter queue when the route has one; without one it is
retried for ever (and blocks its lane, which the README says).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RetryState", "after_failure", "after_success", "backoff"]


@dataclass(slots=True)
class RetryState:
    """A lane's retry fields (the coordinator's ``Lane`` holds one)."""

    attempt: int = 0  # consecutive failures: the back-off exponent
    isolate_until: int | None = None  # one message at a time up to this offset
    head_runs: int = 0  # how often the lane's first queued message has run


def backoff(attempt: int, first: float, most: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``first`` doubling, at most ``most``."""
    if attempt <= 0:
        return 0.0
    return min(first * float(2 ** min(attempt - 1, 62)), most)


def after_success(state: RetryState, last_offset: int) -> None:
    """The lane got past ``last_offset`` (processed or dead-lettered)."""
    state.attempt = 0
    if state.isolate_until is not None and last_offset < state.isolate_until:
        state.head_runs = 1  # the next message also ran in the batch that failed
    else:
        state.isolate_until = None
        state.head_runs = 0


def after_failure(
    state: RetryState, unfinished: int, last_offset: int, max_retries: int | None
) -> Literal["retry", "dead_letter"]:
    """A batch failed leaving ``unfinished`` messages; update ``state`` and decide.

    ``retry``: put them back at the front of the lane and back off. ``dead_letter``: the lane's
    only unfinished message failed more than ``max_retries`` times (``None``: no DLQ).
    """
    if unfinished > 1:
        state.isolate_until = max(state.isolate_until or -1, last_offset)
        state.head_runs = 1
    else:
        state.head_runs += 1
    if max_retries is not None and unfinished == 1 and state.head_runs > max_retries:
        return "dead_letter"
    state.attempt += 1
    return "retry"


def after_setup_failure(state: RetryState) -> None:
    """Creating the consumer (or its ``initialized()``) failed: back off, count nothing
    against the messages."""
    state.attempt += 1
