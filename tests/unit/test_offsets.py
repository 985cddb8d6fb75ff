"""``OffsetTracker``: examples, then a stateful property test against a plain-set model.

The model keeps the set of delivered offsets, the set of marked ones and the end (one past the
highest offset delivered or skipped by the client). Offsets below the end that were never
delivered are holes (transaction markers, aborted records, compaction): they need no work.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from parafka.errors import ParafkaError
from parafka.processing.offsets import (
    OffsetError,
    OffsetTracker,
    covered,
    merge_ranges,
    subtract_range,
)


def runs(offsets: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted maximal ranges ``(first, last)`` of consecutive integers in ``offsets``."""
    result: list[tuple[int, int]] = []
    for offset in sorted(set(offsets)):
        if result and result[-1][1] == offset - 1:
            result[-1] = (result[-1][0], offset)
        else:
            result.append((offset, offset))
    return result


class Model:
    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.end: int | None = None

    def committable(self) -> int | None:
        return min(self.pending) if self.pending else self.end

    def done(self, offset: int) -> bool:
        return self.end is not None and offset < self.end and offset not in self.pending

    def done_between(self, low: int, high: int) -> list[tuple[int, int]]:
        if self.end is None:
            return []
        return runs(o for o in range(low, min(high, self.end)) if o not in self.pending)


def test_offset_error_is_a_parafka_error() -> None:
    assert issubclass(OffsetError, ParafkaError)


def test_nothing_is_committable_before_any_delivery() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    assert tracker.end is None
    assert not tracker.pending
    assert tracker.finished_above_commit() == []
    assert not tracker.is_finished(0)
    with pytest.raises(OffsetError, match="only offsets below None"):
        tracker.mark(0)


def test_contiguous_delivery_is_one_run() -> None:
    tracker = OffsetTracker()
    tracker.register(range(10, 20))
    assert tracker.unfinished == 1
    assert tracker.committable() == 10
    tracker.mark(10, 14)
    assert tracker.committable() == 15
    tracker.mark(15, 19)
    assert tracker.committable() == 20
    assert not tracker.pending


def test_holes_inside_a_fetch_need_no_work() -> None:
    # A transactional topic under read_committed: 3 is a commit marker, 6..8 an aborted txn.
    tracker = OffsetTracker()
    tracker.register([0, 1, 2, 4, 5, 9])
    assert tracker.unfinished == 3
    tracker.mark_each([0, 1, 2])
    assert tracker.committable() == 4
    tracker.mark_each([4, 5])
    assert tracker.committable() == 9
    assert tracker.is_finished(7)  # a hole
    tracker.mark(9)
    assert tracker.committable() == 10


def test_scattered_marks_at_or_above_the_end_are_refused() -> None:
    tracker = OffsetTracker()
    tracker.register([0, 1, 2])
    with pytest.raises(OffsetError, match="only offsets below 3"):
        tracker.mark_each([1, 3])
    with pytest.raises(OffsetError, match="invalid offset -1"):
        tracker.mark_each([-1, 0])
    assert tracker.committable() == 0  # a refused mark changes nothing


def test_virtual_partition_marks_leave_no_hole_pending() -> None:
    tracker = OffsetTracker()
    tracker.register([0, 2, 4, 6])
    tracker.mark_each([2, 6])
    tracker.mark(4)
    assert tracker.committable() == 0
    assert tracker.finished_above_commit() == [(1, 6)]
    tracker.mark(0)
    assert tracker.committable() == 7


def test_advance_moves_the_end_past_control_records() -> None:
    tracker = OffsetTracker()
    tracker.register(range(0, 5))
    tracker.mark(0, 4)
    assert tracker.committable() == 5
    assert tracker.advance(8)  # a marker and an aborted transaction, no message delivered
    assert tracker.committable() == 8
    assert not tracker.advance(8)
    assert not tracker.advance(3)
    assert tracker.committable() == 8
    tracker.register([8, 9])
    assert tracker.committable() == 8


def test_advance_with_pending_work_keeps_the_commit_on_it() -> None:
    tracker = OffsetTracker()
    tracker.register(range(0, 5))
    tracker.mark(1, 4)
    tracker.advance(7)
    assert tracker.committable() == 0
    assert tracker.finished_above_commit() == [(1, 6)]


def test_register_below_the_end_is_an_error() -> None:
    tracker = OffsetTracker()
    tracker.register(range(0, 5))
    with pytest.raises(OffsetError, match="below the partition's end 5"):
        tracker.register([4, 5])
    tracker.advance(9)
    with pytest.raises(OffsetError, match="below the partition's end 9"):
        tracker.register([8])
    with pytest.raises(OffsetError, match="not ascending"):
        tracker.register([9, 11, 10])


def test_mark_at_or_above_the_end_is_an_error() -> None:
    tracker = OffsetTracker()
    tracker.register(range(0, 5))
    with pytest.raises(OffsetError, match="only offsets below 5"):
        tracker.mark(3, 5)
    assert not tracker.is_finished(3)
    with pytest.raises(OffsetError, match="invalid offset range"):
        tracker.mark(3, 2)


def test_truncate_forgets_from_the_offset_on() -> None:
    tracker = OffsetTracker()
    tracker.register([0, 1, 2, 5, 6, 7])
    tracker.mark(0, 1)
    tracker.truncate(6)
    assert tracker.end == 6
    assert tracker.committable() == 2
    tracker.mark(2)
    assert tracker.committable() == 5
    tracker.mark(5)
    assert tracker.committable() == 6
    tracker.register([6, 7])
    assert tracker.committable() == 6
    tracker.truncate(100)  # above the end: nothing to forget
    assert tracker.end == 8


def test_finished_between_includes_holes_and_stops_at_the_end() -> None:
    tracker = OffsetTracker()
    tracker.register([0, 1, 3, 4, 8])
    tracker.mark(1)
    assert tracker.finished_between(0, 100) == [(1, 2), (5, 7)]
    assert tracker.finished_between(2, 4) == [(2, 2)]
    assert tracker.finished_between(9, 20) == []


def test_repr_shows_at_most_four_runs() -> None:
    tracker = OffsetTracker()
    tracker.register([0, 2, 4, 6, 8, 10])
    assert repr(tracker) == "OffsetTracker(pending=[(0, 0), (2, 2), (4, 4), (6, 6)]..., end=11)"


# --- properties -----------------------------------------------------------------------------------


class OffsetTrackerMachine(RuleBasedStateMachine):
    """Deliveries with holes, marks in any order, advances and truncations, against the model."""

    def __init__(self) -> None:
        super().__init__()
        self.tracker = OffsetTracker()
        self.model = Model()
        self.floor: int | None = None  # the committable offset may not go below this
        self.last: tuple[int, object] | None = None  # the revision and state last seen

    def _next(self) -> int:
        return 0 if self.model.end is None else self.model.end

    @rule(gaps=st.lists(st.integers(0, 3), min_size=1, max_size=12))
    def deliver(self, gaps: list[int]) -> None:
        offsets = []
        offset = self._next() - 1
        for gap in gaps:
            offset += gap + 1
            offsets.append(offset)
        self.tracker.register(offsets)
        self.model.pending.update(offsets)
        self.model.end = offsets[-1] + 1

    @precondition(lambda self: bool(self.model.end))
    @rule(data=st.data())
    def mark_range(self, data: st.DataObject) -> None:
        end = self.model.end
        assert end is not None
        first = data.draw(st.integers(0, end - 1))
        last = data.draw(st.integers(first, end - 1))
        self.tracker.mark(first, last)
        self.model.pending -= set(range(first, last + 1))

    @precondition(lambda self: bool(self.model.pending))
    @rule(data=st.data())
    def mark_scattered(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from(sorted(self.model.pending)), min_size=1))
        self.tracker.mark_each(sorted(chosen))
        self.model.pending -= chosen

    @precondition(lambda self: bool(self.model.end))
    @rule(data=st.data())
    def mark_scattered_anywhere(self, data: st.DataObject) -> None:
        # Pending, finished and hole offsets mixed: only the pending ones change anything.
        end = self.model.end
        assert end is not None
        chosen = data.draw(st.sets(st.integers(0, end - 1), min_size=1, max_size=20))
        self.tracker.mark_each(sorted(chosen))
        self.model.pending -= chosen

    @rule(step=st.integers(0, 5))
    def advance(self, step: int) -> None:
        position = self._next() + step
        moved = self.tracker.advance(position)
        assert moved == (self.model.end is None or position > self.model.end)
        assert position >= 0
        if moved:
            self.model.end = position

    @precondition(lambda self: self.model.end is not None)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        end = self.model.end
        assert end is not None
        offset = data.draw(st.integers(0, end + 2))
        self.tracker.truncate(offset)
        if offset < end:
            self.model.pending = {o for o in self.model.pending if o < offset}
            self.model.end = offset
            self.floor = None  # a seek may move the commit back, on purpose

    @invariant()
    def agrees_with_the_model(self) -> None:
        tracker, model = self.tracker, self.model
        assert tracker.end == model.end
        commit = tracker.committable()
        assert commit == model.committable()
        assert all(commit is not None and commit <= o for o in model.pending)
        assert tracker.unfinished == len(runs(model.pending))
        top = 0 if model.end is None else model.end + 2
        for offset in range(top):
            assert tracker.is_finished(offset) is model.done(offset), offset
        if commit is not None and model.end is not None:
            assert tracker.finished_above_commit() == (
                model.done_between(commit, model.end) if model.pending else []
            )

    @invariant()
    def an_unchanged_revision_means_an_unchanged_state(self) -> None:
        # The listener skips encoding the commit metadata while the revision stays the same:
        # that is only safe if no state change ever keeps it.
        state = (self.tracker.committable(), self.tracker.end, self.tracker.finished_above_commit())
        revision = self.tracker.revision
        if self.last is not None and self.last[0] == revision:
            assert self.last[1] == state
        self.last = (revision, state)

    @invariant()
    def commit_never_moves_back_without_truncation(self) -> None:
        commit = self.tracker.committable()
        if self.floor is not None:
            assert commit is not None
            assert commit >= self.floor
        self.floor = commit


def test_offset_tracker_state_machine() -> None:
    run_state_machine_as_test(
        OffsetTrackerMachine, settings=settings(max_examples=300, stateful_step_count=40)
    )


@settings(max_examples=200)
@given(st.data())
def test_finishing_every_delivered_offset_commits_the_end(data: st.DataObject) -> None:
    """Liveness: whatever the holes and the order of marks, the commit reaches the end."""
    offsets = sorted(data.draw(st.sets(st.integers(0, 300), min_size=1, max_size=80)))
    tail = data.draw(st.integers(0, 10))
    tracker = OffsetTracker()
    cut = data.draw(st.integers(1, len(offsets)))
    tracker.register(offsets[:cut])
    tracker.register(offsets[cut:])
    tracker.advance(offsets[-1] + 1 + tail)
    for offset in data.draw(st.permutations(offsets)):
        tracker.mark(offset)
    assert tracker.committable() == offsets[-1] + 1 + tail


ranges_strategy = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8)), max_size=8).map(
    lambda pairs: runs(o for start, length in pairs for o in range(start, start + length + 1))
)


def members(ranges: list[tuple[int, int]]) -> set[int]:
    return {o for first, last in ranges for o in range(first, last + 1)}


@given(ranges_strategy, ranges_strategy)
def test_merge_ranges_is_the_union(
    first: list[tuple[int, int]], second: list[tuple[int, int]]
) -> None:
    merged = merge_ranges(first, second)
    assert members(merged) == members(first) | members(second)
    assert merged == runs(members(merged))  # sorted, disjoint, not adjacent


@given(ranges_strategy, st.integers(0, 70), st.integers(0, 10))
def test_subtract_range_removes_exactly_that_range(
    ranges: list[tuple[int, int]], low: int, length: int
) -> None:
    kept = subtract_range(ranges, low, low + length)
    assert members(kept) == members(ranges) - set(range(low, low + length + 1))


@given(st.sets(st.integers(0, 80), min_size=1), ranges_strategy)
def test_covered_finds_the_offsets_in_the_ranges(
    offsets: set[int], ranges: list[tuple[int, int]]
) -> None:
    ordered = sorted(offsets)
    found, remaining = covered(ordered, ranges)
    assert found == offsets & members(ranges)
    assert all(last > ordered[-1] for _first, last in remaining)
    assert members(remaining) >= {o for o in members(ranges) if o > ordered[-1]}
