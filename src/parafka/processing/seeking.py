"""A consumer's pause or seek inside one partition: who asked, and where fetching restarts.

Pure (no lock, no clock, no I/O); the coordinator holds its lock around it. ``pause(offset)``
or ``seek(offset)`` from one lane (or the only lane) is carried out once every lane is idle:

- the calling lane's queued messages between its batch and ``offset`` count as skipped (a seek
  forward); no other lane's message is ever marked, dropped or skipped;
- fetching restarts at the lowest of the requested offsets and the lowest unfinished offset;
- what finished from there on is remembered and not processed again when fetched again, except
  where a consumer sought back before its own batch: it asked for that to run again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from parafka.processing.offsets import OffsetTracker, Ranges, merge_ranges, subtract_range

__all__ = ["Pause", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One ``pause``/``seek`` call: the offset, the calling lane and its batch's offsets."""

    offset: int
    lane: int | None  # None: not called from a running batch
    first: int  # the calling batch's first and last offsets (first = offset when none)
    last: int


@dataclass(slots=True)
class Pause:
    """A pending pause or seek of one partition."""

    requests: list[Request]
    resume_at: float
    target: int | None = None  # set once carried out: the offset to fetch from
    skipped: list[int] = field(default_factory=list)

    def skips(self, lane: int, queued: Iterable[int]) -> list[int]:
        """Offsets among lane ``lane``'s ``queued`` ones its own seeks skip over."""
        found: list[int] = []
        for offset in queued:
            for request in self.requests:
                if request.lane == lane and request.last < offset < request.offset:
                    found.append(offset)
                    break
        return found

    def carry_out(self, tracker: OffsetTracker, skip: Ranges) -> Ranges:
        """With the skipped offsets marked: truncate ``tracker`` at the target (stored in
        :attr:`target`) and return the finished ranges not to process again (with ``skip``,
        the ones known before)."""
        target = min(request.offset for request in self.requests)
        if tracker.pending:
            lowest = tracker.committable()
            assert lowest is not None
            target = min(target, lowest)
        end = tracker.end
        if end is not None and target < end:
            finished = tracker.finished_between(target, end)
            for request in self.requests:
                if request.offset < request.first:
                    finished = subtract_range(finished, request.offset, request.first - 1)
            skip = merge_ranges(finished, skip)
            tracker.truncate(target)
        self.target = target
        return skip
