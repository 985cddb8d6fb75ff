"""Offset arithmetic for one partition: which fetched offsets are unfinished, what is committable.

A pure object: no locks, no I/O, no clock. Its owner (the partition's ``Coordinator``) holds the
lock around it. Offsets are registered in fetch order as inclusive ranges ``[first, last]``: Kafka
offsets inside a fetched run may have holes (compaction, transaction markers), and holes need no
work, so a range stands for "every offset that exists in it". Marking removes offsets from the
unfinished set; the committable offset (Kafka's "next offset to read") is the first unfinished
offset, or one past the last registered offset when everything is finished.

Invariants (property-tested): the committable offset never moves backwards, and never passes an
offset that was registered and not marked.
"""

from __future__ import annotations

from bisect import bisect_right

from parafka.errors import ParafkaError

__all__ = ["OffsetError", "OffsetTracker"]


class OffsetError(ParafkaError):
    """An offset operation that would break the at-least-once guarantee."""


class OffsetTracker:
    """Unfinished offsets of one partition, as sorted disjoint inclusive ranges."""

    __slots__ = ("_first_registered", "_last_registered", "_open_firsts", "_open_lasts")

    def __init__(self) -> None:
        # Parallel sorted lists: open range i is [_open_firsts[i], _open_lasts[i]].
        self._open_firsts: list[int] = []
        self._open_lasts: list[int] = []
        self._last_registered: int | None = None
        self._first_registered: int | None = None

    def __repr__(self) -> str:
        ranges = list(zip(self._open_firsts, self._open_lasts, strict=True))
        shown = f"{ranges[:4]}{'...' if len(ranges) > 4 else ''}"
        return f"OffsetTracker(open={shown}, last={self._last_registered})"

    @property
    def last_registered(self) -> int | None:
        """The highest offset registered so far."""
        return self._last_registered

    @property
    def unfinished(self) -> int:
        """How many open ranges remain (a measure of fragmentation, not of messages)."""
        return len(self._open_firsts)

    def register(self, first: int, last: int) -> None:
        """Record fetched offsets ``first..last`` (inclusive) as unfinished.

        They must lie above everything registered before: a partition is fetched in order.
        """
        if first < 0 or last < first:
            raise OffsetError(f"invalid offset range [{first}, {last}]")
        if self._last_registered is not None and first <= self._last_registered:
            raise OffsetError(
                f"offsets [{first}, {last}] are not above the last registered "
                f"offset {self._last_registered}"
            )
        if self._first_registered is None:
            self._first_registered = first
        if self._open_lasts and self._open_lasts[-1] == first - 1:
            self._open_lasts[-1] = last
        else:
            self._open_firsts.append(first)
            self._open_lasts.append(last)
        self._last_registered = last

    def mark(self, first: int, last: int | None = None) -> None:
        """Record offsets ``first..last`` (inclusive; ``last`` defaults to ``first``) as finished.

        Marking finished offsets again is a no-op; marking above the registered ones is an error.
        """
        last = first if last is None else last
        if first < 0 or last < first:
            raise OffsetError(f"invalid offset range [{first}, {last}]")
        if self._last_registered is None or last > self._last_registered:
            raise OffsetError(
                f"offsets up to {last} are marked but only up to "
                f"{self._last_registered} were registered"
            )
        firsts, lasts = self._open_firsts, self._open_lasts
        # Open ranges that may overlap [first, last]: from the last one starting at or before
        # `first` up to the last one starting at or before `last`.
        lo = max(bisect_right(firsts, first) - 1, 0)
        hi = bisect_right(firsts, last)
        replacement_firsts: list[int] = []
        replacement_lasts: list[int] = []
        for index in range(lo, hi):
            open_first, open_last = firsts[index], lasts[index]
            if open_last < first or open_first > last:
                replacement_firsts.append(open_first)
                replacement_lasts.append(open_last)
                continue
            if open_first < first:
                replacement_firsts.append(open_first)
                replacement_lasts.append(first - 1)
            if open_last > last:
                replacement_firsts.append(last + 1)
                replacement_lasts.append(open_last)
        firsts[lo:hi] = replacement_firsts
        lasts[lo:hi] = replacement_lasts

    def truncate(self, offset: int) -> None:
        """Forget every registration at or above ``offset`` (a seek: they will be fetched and
        registered again). Offsets below stay as they are; the committable offset becomes at most
        ``offset`` (it moves back only when seeking before it, which the user asked for)."""
        if offset < 0:
            raise OffsetError(f"invalid offset {offset}")
        if self._last_registered is None or offset > self._last_registered:
            return
        firsts, lasts = self._open_firsts, self._open_lasts
        keep = bisect_right(firsts, offset - 1)
        del firsts[keep:]
        del lasts[keep:]
        if lasts and lasts[-1] >= offset:
            lasts[-1] = offset - 1
        if self._first_registered is None or offset <= self._first_registered:
            self._last_registered = self._first_registered = None  # nothing fetched remains
        else:
            self._last_registered = offset - 1

    def is_finished(self, offset: int) -> bool:
        """True when ``offset`` needs no more work: it is at or below the last registered offset
        and not unfinished (holes between registered ranges hold no messages, so they count)."""
        if self._last_registered is None or offset > self._last_registered:
            return False
        index = bisect_right(self._open_firsts, offset) - 1
        return index < 0 or self._open_lasts[index] < offset

    def committable(self) -> int | None:
        """The offset to commit (next to read): the first unfinished one; None before any fetch."""
        if self._open_firsts:
            return self._open_firsts[0]
        if self._last_registered is None:
            return None
        return self._last_registered + 1

    def finished_above_commit(self) -> list[tuple[int, int]]:
        """Finished ranges between the committable offset and the last registered offset."""
        if not self._open_firsts or self._last_registered is None:
            return []
        gaps = []
        for index in range(len(self._open_firsts)):
            start = self._open_lasts[index] + 1
            end = (
                self._open_firsts[index + 1] - 1
                if index + 1 < len(self._open_firsts)
                else self._last_registered
            )
            if start <= end:
                gaps.append((start, end))
        return gaps
