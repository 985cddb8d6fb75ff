"""Whether each key's messages were processed one after another, in order.

Standard library only: this module runs inside each peer's own virtualenv. Neither class is
thread-safe: :class:`~bench.contenders.common.Recorder` calls them under its lock.

- :class:`KeyOrder` watches messages processed in this process as they begin and finish.
- :class:`Deliveries` collects messages processed in other processes (each reported with when
  it began and ended, on the machine's monotonic clock, which every process shares) and checks
  them at the end, sorted by when they began. It also tells a message processed again (after a
  rebalance moved its partition before its offset was committed) from one out of order.
"""

from __future__ import annotations

from array import array

__all__ = ["Deliveries", "KeyOrder"]


class KeyOrder:
    """Whether the messages of each key were processed one after another, in order.

    A message *breaks* the order when it begins while an earlier message of its key is still
    being processed, or when it begins after a later message of its key already began (a
    message redelivered counts too: none is redelivered in a run without failures).
    """

    def __init__(self) -> None:
        self.violations = 0
        self._highest: dict[int, int] = {}  # the highest sequence of each key that began
        self._running: dict[int, int] = {}  # messages of each key being processed now

    def began(self, key: int, sequence: int) -> None:
        running = self._running.get(key, 0)
        if running or sequence <= self._highest.get(key, -1):
            self.violations += 1
        self._running[key] = running + 1
        self._highest[key] = max(sequence, self._highest.get(key, -1))

    def finished(self, key: int) -> None:
        self._running[key] -= 1


class _Runs:
    """One key's processed messages, compactly: 17 bytes each (a run of 100,000 messages holds
    under 2 MB, so the check does not weigh on the contender process's peak RSS)."""

    __slots__ = ("began", "ended", "seen", "sequence")

    def __init__(self) -> None:
        self.began = array("d")
        self.ended = array("d")
        self.sequence = array("q")
        self.seen = bytearray()  # seen[s] == 1: sequence s was processed at least once


class Deliveries:
    """Messages of sequenced keys processed elsewhere; :meth:`check` says how many broke their
    key's order and how many were processed more than once.

    Of the runs of one message, the one that began first counts; the others are redeliveries
    (at least once allows them), not order breaks. A first run breaks the order when it began
    after a later message of its key began, or before an earlier one of its key ended (two at
    once)."""

    def __init__(self) -> None:
        self._keys: dict[int, _Runs] = {}

    def add(self, key: int, sequence: int, began: float, ended: float) -> bool:
        """One run of a message; True when no run of it was added before."""
        runs = self._keys.get(key)
        if runs is None:
            runs = self._keys[key] = _Runs()
        runs.began.append(began)
        runs.ended.append(ended)
        runs.sequence.append(sequence)
        if sequence >= len(runs.seen):
            runs.seen.extend(bytes(sequence + 1 - len(runs.seen)))
        first = not runs.seen[sequence]
        runs.seen[sequence] = 1
        return first

    def check(self) -> tuple[int, int]:
        """``(order violations, redeliveries)`` over every run added so far."""
        violations = redelivered = 0
        for runs in self._keys.values():
            done: set[int] = set()
            highest = -1
            busy_until = float("-inf")
            for index in sorted(range(len(runs.began)), key=lambda i: (runs.began[i], i)):
                sequence = runs.sequence[index]
                if sequence in done:
                    redelivered += 1
                    continue
                done.add(sequence)
                if sequence < highest or runs.began[index] < busy_until:
                    violations += 1
                highest = max(highest, sequence)
                busy_until = max(busy_until, runs.ended[index])
        return violations, redelivered
