"""Offset arithmetic for one partition: which delivered offsets are unfinished, what is committable.

A pure object: no locks, no I/O, no clock. Its owner (the partition's ``Coordinator``) holds the
lock around it.

Kafka offsets are not contiguous: transaction markers, records of aborted transactions (under
``read_committed``), compaction and retention leave holes that no message fills. So the tracker
keeps two things only:

- the *pending* offsets: messages delivered to parafka and not finished yet, as sorted disjoint
  runs of delivered offsets (a fetch of consecutive offsets is one run; a fetch with holes is
  one run per stretch);
- the *end*: one past the highest offset known to be delivered or skipped by the client. It
  grows with each registration and with :meth:`advance` (the client's position, which librdkafka
  moves past control records and aborted transactions without delivering a message).

Everything below the end that is not pending needs no work, holes included. The committable
offset (Kafka's "next offset to read") is the first pending offset, or the end when nothing is
pending.

Invariants (property-tested in ``tests/unit/test_offsets.py``): the committable offset never
moves backwards except through :meth:`truncate` (a seek the consumer asked for, or a partition
rewound by the broker), and never passes a pending offset.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from parafka.errors import ParafkaError

__all__ = [
    "OffsetError",
    "OffsetTracker",
    "Ranges",
    "covered",
    "merge_ranges",
    "subtract_range",
]

Ranges = list[tuple[int, int]]


class OffsetError(ParafkaError):
    """An offset operation that would break the at-least-once guarantee."""


class OffsetTracker:
    """Pending offsets of one partition as sorted disjoint inclusive runs, and its end."""

    __slots__ = ("_end", "_firsts", "_lasts", "_revision")

    def __init__(self) -> None:
        # Parallel sorted lists: pending run i is [_firsts[i], _lasts[i]].
        self._firsts: list[int] = []
        self._lasts: list[int] = []
        self._end: int | None = None
        self._revision = 0

    def __repr__(self) -> str:
        runs = list(zip(self._firsts, self._lasts, strict=True))
        shown = f"{runs[:4]}{'...' if len(runs) > 4 else ''}"
        return f"OffsetTracker(pending={shown}, end={self._end})"

    @property
    def end(self) -> int | None:
        """One past the highest offset delivered (or skipped by the client); None before any."""
        return self._end

    @property
    def revision(self) -> int:
        """A number that changes whenever the pending runs or the end may have changed: a
        cheap test for "the commit point or what is finished above it may differ" (equal
        revisions mean equal state; different ones may still describe the same state)."""
        return self._revision

    @property
    def unfinished(self) -> int:
        """How many pending runs remain (a measure of fragmentation, not of messages)."""
        return len(self._firsts)

    @property
    def pending(self) -> bool:
        """True while some delivered offset is unfinished."""
        return bool(self._firsts)

    def register(self, offsets: Sequence[int]) -> None:
        """Record delivered ``offsets`` (ascending, all at or above :attr:`end`) as pending."""
        if not offsets:
            return
        first, last = offsets[0], offsets[-1]
        if first < 0 or last < first:
            raise OffsetError(f"invalid offsets {first}..{last}")
        self._revision += 1
        if self._end is not None and first < self._end:
            raise OffsetError(
                f"offsets from {first} are below the partition's end {self._end} "
                f"(fetched again without a seek)"
            )
        if last - first + 1 == len(offsets):  # the usual case: no holes
            self._add_run(first, last)
        else:
            start = previous = first
            for offset in offsets[1:]:
                if offset <= previous:
                    raise OffsetError(f"offsets are not ascending: {previous} then {offset}")
                if offset != previous + 1:
                    self._add_run(start, previous)
                    start = offset
                previous = offset
            self._add_run(start, previous)
        self._end = last + 1

    def _add_run(self, first: int, last: int) -> None:
        if self._lasts and self._lasts[-1] == first - 1:
            self._lasts[-1] = last
        else:
            self._firsts.append(first)
            self._lasts.append(last)

    def advance(self, position: int) -> bool:
        """The client's position is ``position``: offsets below it that were never delivered
        are holes. True when the end moved. Only valid when every message below ``position``
        was registered (the owner does not call it while a seek is pending)."""
        if position < 0 or (self._end is not None and position <= self._end):
            return False
        self._end = position
        self._revision += 1
        return True

    def mark(self, first: int, last: int | None = None) -> None:
        """Record offsets ``first..last`` (inclusive; ``last`` defaults to ``first``) finished.

        Marking finished offsets (or holes) again is a no-op; marking at or above the end is an
        error (nothing was delivered there).
        """
        last = first if last is None else last
        if first < 0 or last < first:
            raise OffsetError(f"invalid offset range [{first}, {last}]")
        if self._end is None or last >= self._end:
            raise OffsetError(
                f"offsets up to {last} are marked but only offsets below {self._end} were delivered"
            )
        firsts, lasts = self._firsts, self._lasts
        if not firsts:
            return
        self._revision += 1
        if first <= firsts[0] and last >= lasts[-1]:  # everything pending is done
            firsts.clear()
            lasts.clear()
            return
        lo = max(bisect_right(firsts, first) - 1, 0)
        hi = bisect_right(firsts, last)
        new_firsts: list[int] = []
        new_lasts: list[int] = []
        for index in range(lo, hi):
            run_first, run_last = firsts[index], lasts[index]
            if run_last < first or run_first > last:
                new_firsts.append(run_first)
                new_lasts.append(run_last)
                continue
            if run_first < first:
                new_firsts.append(run_first)
                new_lasts.append(first - 1)
            if run_last > last:
                new_firsts.append(last + 1)
                new_lasts.append(run_last)
        firsts[lo:hi] = new_firsts
        lasts[lo:hi] = new_lasts

    def mark_each(self, offsets: Sequence[int]) -> None:
        """Mark scattered ``offsets`` (strictly ascending) finished: a virtual partition's batch.

        One pass over the pending runs they fall in, splicing the runs once (marking them one
        by one with :meth:`mark` cost a bisect and a splice per offset: 0.14 of the engine's
        1.0 s in ``python -m bench.engine``'s profile at 25 lanes). Offsets already finished
        (or holes) are skipped; an offset at or above the end is an error, as for :meth:`mark`.
        """
        if not offsets:
            return
        if offsets[0] < 0:
            raise OffsetError(f"invalid offset {offsets[0]}")
        if self._end is None or offsets[-1] >= self._end:
            raise OffsetError(
                f"offset {offsets[-1]} is marked but only offsets below {self._end} were delivered"
            )
        firsts, lasts = self._firsts, self._lasts
        if not firsts:
            return
        self._revision += 1
        lo = max(bisect_right(firsts, offsets[0]) - 1, 0)
        hi = bisect_right(firsts, offsets[-1])
        new_firsts: list[int] = []
        new_lasts: list[int] = []
        index, count = 0, len(offsets)
        for run in range(lo, hi):
            run_first, run_last = firsts[run], lasts[run]
            while index < count and offsets[index] < run_first:
                index += 1
            start = run_first  # the first offset of the run not known finished yet
            while index < count and offsets[index] <= run_last:
                offset = offsets[index]
                if offset > start:
                    new_firsts.append(start)
                    new_lasts.append(offset - 1)
                start = offset + 1
                index += 1
            if start <= run_last:
                new_firsts.append(start)
                new_lasts.append(run_last)
        firsts[lo:hi] = new_firsts
        lasts[lo:hi] = new_lasts

    def truncate(self, offset: int) -> None:
        """Forget everything at or above ``offset``: it will be delivered and registered again
        (a seek, or a partition the broker rewound). The end becomes at most ``offset``."""
        if offset < 0:
            raise OffsetError(f"invalid offset {offset}")
        if self._end is None or offset >= self._end:
            return
        self._revision += 1
        firsts, lasts = self._firsts, self._lasts
        keep = bisect_left(firsts, offset)
        del firsts[keep:]
        del lasts[keep:]
        if lasts and lasts[-1] >= offset:
            lasts[-1] = offset - 1
        self._end = offset

    def is_finished(self, offset: int) -> bool:
        """True when ``offset`` needs no more work: below the end and not pending."""
        if self._end is None or offset >= self._end:
            return False
        index = bisect_right(self._firsts, offset) - 1
        return index < 0 or self._lasts[index] < offset

    def committable(self) -> int | None:
        """The offset to commit (next to read): the first pending one, else the end."""
        if self._firsts:
            return self._firsts[0]
        return self._end

    def finished_above_commit(self) -> Ranges:
        """Ranges between the committable offset and the end that need no work."""
        if not self._firsts or self._end is None:
            return []
        return self.finished_between(self._firsts[0], self._end)

    def finished_between(self, low: int, high: int) -> Ranges:
        """Ranges in ``[low, high)`` below the end that are not pending (holes included)."""
        if self._end is None:
            return []
        high = min(high, self._end)
        found: Ranges = []
        cursor = low
        index = max(bisect_right(self._firsts, low) - 1, 0)
        while cursor < high and index < len(self._firsts):
            run_first, run_last = self._firsts[index], self._lasts[index]
            if run_last < cursor:
                index += 1
                continue
            if run_first > cursor:
                found.append((cursor, min(run_first, high) - 1))
            cursor = max(cursor, run_last + 1)
            index += 1
        if cursor < high:
            found.append((cursor, high - 1))
        return found


def subtract_range(ranges: Ranges, low: int, high: int) -> Ranges:
    """``ranges`` (inclusive, sorted) without the offsets ``low..high``."""
    kept: Ranges = []
    for first, last in ranges:
        if last < low or first > high:
            kept.append((first, last))
            continue
        if first < low:
            kept.append((first, low - 1))
        if last > high:
            kept.append((high + 1, last))
    return kept


def merge_ranges(first: Ranges, second: Ranges) -> Ranges:
    """The union of two lists of inclusive ranges, sorted and merged."""
    merged: Ranges = []
    for low, high in sorted([*first, *second]):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def covered(offsets: Sequence[int], ranges: Ranges) -> tuple[set[int], Ranges]:
    """Which of ``offsets`` (ascending) lie in ``ranges`` (sorted), and the ranges that reach
    past the last of them (still useful for later offsets)."""
    found: set[int] = set()
    index = 0
    for offset in offsets:
        while index < len(ranges) and ranges[index][1] < offset:
            index += 1
        if index < len(ranges) and ranges[index][0] <= offset:
            found.add(offset)
    last = offsets[-1] if offsets else -1
    return found, [r for r in ranges if r[1] > last]
