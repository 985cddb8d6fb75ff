"""``OffsetTracker``: examples of each method, then properties against a plain-set reference model.

The model keeps the set of registered offsets (a registered range ``[a, b]`` stands for every
integer in it) and the set of marked offsets. The tracker must agree with it on the committable
offset, must never move that offset backwards and never past registered-and-unmarked work.

Offsets between two registrations (or below the first one) were never registered: they are
Kafka's holes (compaction, transaction markers), which need no work. The tracker treats them as
done, as ``committable()`` must (it jumps over them), so ``is_finished`` is True for them and
``finished_above_commit`` includes them in its ranges; the model below says so explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from parafka.errors import ParafkaError
from parafka.processing.offsets import OffsetError, OffsetTracker

MAX_OFFSET = 2000  # every offset used here stays below this

Snapshot = tuple[int | None, int | None, int, list[tuple[int, int]]]


def runs(offsets: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted maximal ranges ``(first, last)`` of consecutive integers in ``offsets``."""
    result: list[tuple[int, int]] = []
    for offset in sorted(set(offsets)):
        if result and result[-1][1] == offset - 1:
            result[-1] = (result[-1][0], offset)
        else:
            result.append((offset, offset))
    return result


def snapshot(tracker: OffsetTracker) -> Snapshot:
    """Everything public about the tracker; together these determine its open ranges."""
    return (
        tracker.last_registered,
        tracker.committable(),
        tracker.unfinished,
        tracker.finished_above_commit(),
    )


class Model:
    """The reference: plain sets of registered and marked offsets."""

    def __init__(self) -> None:
        self.registered: set[int] = set()
        self.marked: set[int] = set()
        self.last: int | None = None

    def register(self, first: int, last: int) -> None:
        self.registered.update(range(first, last + 1))
        self.last = last

    def mark(self, first: int, last: int) -> None:
        self.marked.update(range(first, last + 1))

    def pending(self) -> set[int]:
        """Registered and not marked: the unfinished work."""
        return self.registered - self.marked

    def committable(self) -> int | None:
        if self.last is None:
            return None
        pending = self.pending()
        return min(pending) if pending else self.last + 1

    def is_done(self, offset: int) -> bool:
        """At or below the last registered offset and not unfinished (marked, or a hole)."""
        return self.last is not None and offset <= self.last and offset not in self.pending()

    def marked_above_commit(self) -> list[tuple[int, int]]:
        """Registered-and-marked offsets in ``(committable, last]``, as maximal ranges."""
        commit = self.committable()
        if commit is None or self.last is None:
            return []
        return runs(o for o in self.registered & self.marked if commit < o <= self.last)

    def done_above_commit(self) -> list[tuple[int, int]]:
        """Offsets in ``(committable, last]`` that need no more work, as maximal ranges."""
        commit = self.committable()
        if commit is None or self.last is None:
            return []
        pending = self.pending()
        return runs(o for o in range(commit + 1, self.last + 1) if o not in pending)


def assert_matches_model(tracker: OffsetTracker, model: Model) -> None:
    """Every observable of the tracker against the model."""
    assert tracker.last_registered == model.last
    commit = tracker.committable()
    assert commit == model.committable()
    pending = model.pending()
    # Never passes unfinished work.
    for offset in pending:
        assert commit is not None
        assert commit <= offset
    # is_finished: registered offsets are finished exactly when marked; nothing above the last
    # registered offset is finished; holes at or below it need no work.
    top = -1 if model.last is None else model.last
    for offset in range(top + 3):
        if offset in model.registered:
            assert tracker.is_finished(offset) is (offset in model.marked), offset
        else:
            assert tracker.is_finished(offset) is model.is_done(offset), offset
    # finished_above_commit: exact, holes included ...
    finished = tracker.finished_above_commit()
    assert finished == model.done_above_commit()
    # ... never covers unfinished work, covers every marked registered offset above the commit.
    covered = {o for first, last in finished for o in range(first, last + 1)}
    assert not covered & pending
    for first, last in model.marked_above_commit():
        assert set(range(first, last + 1)) <= covered
    # Open ranges are the maximal runs of unfinished offsets: never split or left adjacent.
    assert tracker.unfinished == len(runs(pending))


# --- the helpers of the model ---------------------------------------------------------------------


def test_runs_groups_consecutive_integers() -> None:
    assert runs([]) == []
    assert runs([5, 1, 2, 3, 9, 10, 7, 2]) == [(1, 3), (5, 5), (7, 7), (9, 10)]


# --- examples: an empty tracker -------------------------------------------------------------------


def test_offset_error_is_a_parafka_error() -> None:
    assert issubclass(OffsetError, ParafkaError)


def test_nothing_is_committable_before_any_register() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    assert tracker.last_registered is None
    assert tracker.unfinished == 0
    assert tracker.finished_above_commit() == []
    assert not tracker.is_finished(0)
    assert repr(tracker) == "OffsetTracker(open=[], last=None)"


@pytest.mark.parametrize(("first", "last"), [(0, None), (0, 0), (3, 7)])
def test_mark_before_any_register_is_an_error(first: int, last: int | None) -> None:
    tracker = OffsetTracker()
    with pytest.raises(OffsetError, match="were registered"):
        tracker.mark(first, last)
    assert tracker.committable() is None


# --- examples: register ---------------------------------------------------------------------------


def test_register_makes_the_first_offset_committable() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    assert tracker.committable() == 0
    assert tracker.last_registered == 4
    assert tracker.unfinished == 1
    assert tracker.finished_above_commit() == []
    assert not any(tracker.is_finished(offset) for offset in range(7))


def test_first_register_need_not_start_at_zero() -> None:
    tracker = OffsetTracker()
    tracker.register(100, 100)
    assert tracker.committable() == 100
    tracker.mark(100)
    assert tracker.committable() == 101


def test_adjacent_registers_merge_into_one_open_range() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.register(5, 9)
    assert tracker.unfinished == 1
    assert tracker.last_registered == 9
    tracker.mark(0, 4)
    assert tracker.committable() == 5


def test_register_after_everything_is_finished() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.mark(0, 4)
    assert tracker.committable() == 5
    tracker.register(5, 6)
    assert tracker.committable() == 5
    tracker.mark(5, 6)
    tracker.register(9, 9)
    assert tracker.committable() == 9
    assert tracker.unfinished == 1


@pytest.mark.parametrize(("first", "last"), [(-1, 3), (-5, -1), (5, 4), (1, 0)])
def test_register_rejects_invalid_ranges(first: int, last: int) -> None:
    tracker = OffsetTracker()
    with pytest.raises(OffsetError, match="invalid offset range"):
        tracker.register(first, last)
    assert tracker.committable() is None
    assert tracker.last_registered is None


@pytest.mark.parametrize(("first", "last"), [(5, 5), (5, 9), (3, 7), (0, 2), (0, 5)])
def test_register_at_or_below_the_last_registered_offset_is_an_error(first: int, last: int) -> None:
    tracker = OffsetTracker()
    tracker.register(0, 5)
    tracker.mark(0, 1)
    before = snapshot(tracker)
    with pytest.raises(OffsetError, match="not above the last registered offset 5"):
        tracker.register(first, last)
    assert snapshot(tracker) == before


# --- examples: mark -------------------------------------------------------------------------------


def test_mark_single_offset_defaults_last_to_first() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.mark(0)
    assert tracker.committable() == 1
    tracker.mark(2)
    assert tracker.committable() == 1
    assert tracker.is_finished(2)
    assert not tracker.is_finished(1)
    assert not tracker.is_finished(3)
    assert tracker.unfinished == 2
    assert tracker.finished_above_commit() == [(2, 2)]


def test_mark_range_in_the_middle_splits_the_open_range() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(3, 5)
    assert tracker.committable() == 0
    assert tracker.unfinished == 2
    assert tracker.finished_above_commit() == [(3, 5)]
    assert {offset for offset in range(12) if tracker.is_finished(offset)} == {3, 4, 5}


def test_marking_the_first_unfinished_offset_jumps_over_finished_ones() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(1, 9)
    assert tracker.committable() == 0
    assert tracker.finished_above_commit() == [(1, 9)]
    tracker.mark(0)
    assert tracker.committable() == 10
    assert tracker.unfinished == 0
    assert tracker.finished_above_commit() == []


def test_overlapping_marks_join() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(2, 5)
    tracker.mark(4, 8)
    assert tracker.finished_above_commit() == [(2, 8)]
    assert tracker.unfinished == 2
    tracker.mark(1, 9)
    assert tracker.finished_above_commit() == [(1, 9)]
    assert tracker.unfinished == 1


def test_mark_spanning_several_open_ranges() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 20)
    for offset in (2, 5, 8, 11, 14):
        tracker.mark(offset)
    assert tracker.unfinished == 6
    tracker.mark(4, 12)
    assert tracker.finished_above_commit() == [(2, 2), (4, 12), (14, 14)]
    assert tracker.unfinished == 4  # [0, 1], [3, 3], [13, 13], [15, 20]
    assert tracker.committable() == 0


def test_re_marking_is_a_no_op() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(3, 5)
    tracker.mark(0)
    before = snapshot(tracker)
    tracker.mark(3, 5)
    tracker.mark(4)
    tracker.mark(0)
    tracker.mark(3, 4)
    assert snapshot(tracker) == before
    assert tracker.committable() == 1
    assert tracker.finished_above_commit() == [(3, 5)]


def test_mark_above_the_registered_offsets_is_an_error() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.mark(1)
    before = snapshot(tracker)
    with pytest.raises(OffsetError, match="up to 5 are marked but only up to 4"):
        tracker.mark(5)
    with pytest.raises(OffsetError, match="up to 7 are marked but only up to 4"):
        tracker.mark(3, 7)
    with pytest.raises(OffsetError, match="were registered"):
        tracker.mark(0, 5)
    # Nothing was marked by the failed calls, not even the registered part of [3, 7].
    assert snapshot(tracker) == before
    assert not tracker.is_finished(3)
    assert not tracker.is_finished(0)


@pytest.mark.parametrize(("first", "last"), [(3, 2), (4, 0)])
def test_mark_rejects_invalid_ranges(first: int, last: int) -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    before = snapshot(tracker)
    with pytest.raises(OffsetError, match="invalid offset range"):
        tracker.mark(first, last)
    assert snapshot(tracker) == before


# --- examples: is_finished, finished_above_commit -------------------------------------------------


def test_is_finished_is_false_above_the_last_registered_offset() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.mark(0, 4)
    assert all(tracker.is_finished(offset) for offset in range(5))
    assert not tracker.is_finished(5)
    assert not tracker.is_finished(1000)


def test_finished_above_commit_leaves_out_what_is_below_the_commit() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(0, 2)
    tracker.mark(5, 6)
    assert tracker.committable() == 3
    assert tracker.finished_above_commit() == [(5, 6)]


def test_finished_above_commit_reaches_the_last_registered_offset() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(5, 9)
    assert tracker.finished_above_commit() == [(5, 9)]
    tracker.register(10, 12)
    assert tracker.finished_above_commit() == [(5, 9)]
    tracker.mark(12)
    assert tracker.finished_above_commit() == [(5, 9), (12, 12)]


# --- examples: registered ranges with holes between them ------------------------------------------


def test_committable_jumps_over_a_hole_between_registered_ranges() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.register(10, 12)
    assert tracker.unfinished == 2
    tracker.mark(0, 4)
    assert tracker.committable() == 10
    assert tracker.unfinished == 1
    tracker.mark(10, 12)
    assert tracker.committable() == 13


def test_marking_a_hole_is_a_no_op() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.register(10, 12)
    before = snapshot(tracker)
    tracker.mark(7)
    tracker.mark(5, 9)
    assert snapshot(tracker) == before


def test_a_mark_across_a_hole_marks_both_sides() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 4)
    tracker.register(10, 12)
    tracker.mark(3, 11)
    assert tracker.committable() == 0
    assert tracker.unfinished == 2
    assert not tracker.is_finished(2)
    assert tracker.is_finished(3)
    assert tracker.is_finished(11)
    assert not tracker.is_finished(12)
    assert tracker.finished_above_commit() == [(3, 11)]


def test_holes_count_as_done_below_the_last_registered_offset() -> None:
    """Unregistered offsets at or below the last registered one need no work (see the module doc).

    ``committable()`` passes over them, and ``is_finished``/``finished_above_commit`` agree.
    """
    tracker = OffsetTracker()
    tracker.register(100, 104)
    tracker.register(110, 112)
    assert tracker.is_finished(50)  # below the first registration
    assert tracker.is_finished(107)  # between the registrations
    assert not tracker.is_finished(113)  # above the last one
    tracker.mark(111)
    assert tracker.finished_above_commit() == [(105, 109), (111, 111)]
    tracker.mark(100, 104)
    assert tracker.committable() == 110
    assert tracker.finished_above_commit() == [(111, 111)]


def test_repr_shows_at_most_four_open_ranges() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 12)
    assert repr(tracker) == "OffsetTracker(open=[(0, 12)], last=12)"
    for offset in (1, 3, 5, 7, 9):
        tracker.mark(offset)
    assert tracker.unfinished == 6
    assert repr(tracker) == "OffsetTracker(open=[(0, 0), (2, 2), (4, 4), (6, 6)]..., last=12)"


# --- properties: random operation sequences against the model -------------------------------------


@dataclass(frozen=True)
class Register:
    """Register ``length`` offsets, ``gap`` offsets after the last registered one."""

    gap: int
    length: int


@dataclass(frozen=True)
class Mark:
    """Mark ``span + 1`` offsets from ``position`` (modulo the registered span), clipped."""

    position: int
    span: int


Operation = Register | Mark


def operations(max_gap: int) -> st.SearchStrategy[list[Operation]]:
    register = st.builds(Register, gap=st.integers(0, max_gap), length=st.integers(1, 25))
    mark = st.builds(Mark, position=st.integers(0, MAX_OFFSET), span=st.integers(0, 30))
    return st.lists(st.one_of(register, mark, mark), max_size=40)


def apply(operation: Operation, tracker: OffsetTracker, model: Model) -> None:
    """Run one operation on both the tracker and the model (invalid ones must raise)."""
    if isinstance(operation, Register):
        first = operation.gap if model.last is None else model.last + 1 + operation.gap
        last = first + operation.length - 1
        if last >= MAX_OFFSET:
            return
        tracker.register(first, last)
        model.register(first, last)
        return
    if model.last is None:
        with pytest.raises(OffsetError):
            tracker.mark(operation.position, operation.position + operation.span)
        return
    first = operation.position % (model.last + 1)
    last = min(first + operation.span, model.last)
    tracker.mark(first, last)
    model.mark(first, last)


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@PROPERTY_SETTINGS
@given(operations(max_gap=10))
def test_committable_matches_the_model(sequence: list[Operation]) -> None:
    tracker, model = OffsetTracker(), Model()
    for operation in sequence:
        apply(operation, tracker, model)
        commit = tracker.committable()
        if model.last is None:
            assert commit is None
        elif model.pending():
            assert commit == min(model.pending())
        else:
            assert commit == model.last + 1


@PROPERTY_SETTINGS
@given(operations(max_gap=10))
def test_committable_never_moves_backwards(sequence: list[Operation]) -> None:
    tracker = OffsetTracker()
    model = Model()
    previous: int | None = None
    for operation in sequence:
        apply(operation, tracker, model)
        commit = tracker.committable()
        if previous is not None:
            assert commit is not None
            assert commit >= previous
        previous = commit


@PROPERTY_SETTINGS
@given(operations(max_gap=10))
def test_committable_never_passes_unfinished_work(sequence: list[Operation]) -> None:
    tracker, model = OffsetTracker(), Model()
    for operation in sequence:
        apply(operation, tracker, model)
        commit = tracker.committable()
        for offset in model.pending():
            assert commit is not None
            assert commit <= offset


@PROPERTY_SETTINGS
@given(operations(max_gap=10))
def test_is_finished_agrees_with_the_model(sequence: list[Operation]) -> None:
    tracker, model = OffsetTracker(), Model()
    for operation in sequence:
        apply(operation, tracker, model)
    for offset in sorted(model.registered):
        assert tracker.is_finished(offset) is (offset in model.marked), offset
    top = -1 if model.last is None else model.last
    for offset in range(top + 1, top + 5):
        assert not tracker.is_finished(offset)


@PROPERTY_SETTINGS
@given(operations(max_gap=0))
def test_finished_above_commit_is_the_marked_offsets_without_holes(
    sequence: list[Operation],
) -> None:
    """With contiguous registrations, exactly the marked offsets above the commit, grouped."""
    tracker, model = OffsetTracker(), Model()
    for operation in sequence:
        apply(operation, tracker, model)
        assert tracker.finished_above_commit() == model.marked_above_commit()


@PROPERTY_SETTINGS
@given(operations(max_gap=10))
def test_finished_above_commit_agrees_with_the_model(sequence: list[Operation]) -> None:
    tracker, model = OffsetTracker(), Model()
    for operation in sequence:
        apply(operation, tracker, model)
        assert_matches_model(tracker, model)


@PROPERTY_SETTINGS
@given(st.data())
def test_marking_everything_in_any_order_commits_everything(data: st.DataObject) -> None:
    sizes = data.draw(
        st.lists(st.tuples(st.integers(0, 5), st.integers(1, 10)), min_size=1, max_size=8)
    )
    tracker, model = OffsetTracker(), Model()
    for gap, length in sizes:
        apply(Register(gap, length), tracker, model)
    assert model.last is not None
    order = data.draw(st.permutations(sorted(model.registered)))
    previous = tracker.committable()
    for offset in order:
        tracker.mark(offset)
        model.mark(offset, offset)
        commit = tracker.committable()
        assert commit == model.committable()
        assert previous is not None
        assert commit is not None
        assert commit >= previous
        previous = commit
    assert tracker.committable() == model.last + 1
    assert tracker.unfinished == 0
    assert tracker.finished_above_commit() == []


# --- stateful -------------------------------------------------------------------------------------


class OffsetTrackerMachine(RuleBasedStateMachine):
    """Random register/mark sequences; every observable checked against the model at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.tracker = OffsetTracker()
        self.model = Model()
        self.previous_committable: int | None = None

    def _registered(self) -> list[int]:
        return sorted(self.model.registered)

    def _next_free(self) -> int:
        return 0 if self.model.last is None else self.model.last + 1

    @precondition(lambda self: self._next_free() < MAX_OFFSET - 1)
    @rule(gap=st.integers(0, 15), length=st.integers(1, 30))
    def register(self, gap: int, length: int) -> None:
        first = min(self._next_free() + gap, MAX_OFFSET - 1)
        last = min(first + length - 1, MAX_OFFSET - 1)
        self.tracker.register(first, last)
        self.model.register(first, last)

    @precondition(lambda self: bool(self.model.registered))
    @rule(data=st.data())
    def mark_sub_range(self, data: st.DataObject) -> None:
        registered = self._registered()
        first = data.draw(st.sampled_from(registered), label="first")
        last = data.draw(
            st.sampled_from([o for o in registered if first <= o <= first + 60]), label="last"
        )
        self.tracker.mark(first, last)
        self.model.mark(first, last)

    @precondition(lambda self: bool(self.model.registered))
    @rule(data=st.data())
    def mark_single(self, data: st.DataObject) -> None:
        offset = data.draw(st.sampled_from(self._registered()), label="offset")
        self.tracker.mark(offset)
        self.model.mark(offset, offset)

    @precondition(lambda self: bool(self.model.pending()))
    @rule()
    def mark_first_unfinished(self) -> None:
        offset = min(self.model.pending())
        self.tracker.mark(offset)
        self.model.mark(offset, offset)

    @precondition(lambda self: self.model.last is not None)
    @rule(data=st.data())
    def mark_anything_registered_or_not(self, data: st.DataObject) -> None:
        assert self.model.last is not None
        first = data.draw(st.integers(0, self.model.last), label="first")
        last = data.draw(st.integers(first, self.model.last), label="last")
        self.tracker.mark(first, last)
        self.model.mark(first, last)

    @precondition(lambda self: bool(self.model.registered & self.model.marked))
    @rule(data=st.data())
    def re_mark(self, data: st.DataObject) -> None:
        done = sorted(self.model.registered & self.model.marked)
        first = data.draw(st.sampled_from(done), label="first")
        run = next(r for r in runs(done) if r[0] <= first <= r[1])
        last = data.draw(st.integers(first, run[1]), label="last")
        before = snapshot(self.tracker)
        self.tracker.mark(first, last)
        assert snapshot(self.tracker) == before

    @precondition(lambda self: self.model.last is not None)
    @rule(data=st.data())
    def register_not_above_the_last(self, data: st.DataObject) -> None:
        assert self.model.last is not None
        first = data.draw(st.integers(0, self.model.last), label="first")
        last = data.draw(st.integers(first, first + 20), label="last")
        before = snapshot(self.tracker)
        with pytest.raises(OffsetError):
            self.tracker.register(first, last)
        assert snapshot(self.tracker) == before

    @rule(data=st.data())
    def mark_above_the_last(self, data: st.DataObject) -> None:
        top = -1 if self.model.last is None else self.model.last
        last = data.draw(st.integers(top + 1, top + 20), label="last")
        first = data.draw(st.integers(max(top - 20, 0), last), label="first")
        before = snapshot(self.tracker)
        with pytest.raises(OffsetError):
            self.tracker.mark(first, last)
        assert snapshot(self.tracker) == before

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert_matches_model(self.tracker, self.model)

    @invariant()
    def committable_never_moves_backwards(self) -> None:
        commit = self.tracker.committable()
        if self.previous_committable is not None:
            assert commit is not None
            assert commit >= self.previous_committable
        self.previous_committable = commit


def test_offset_tracker_state_machine() -> None:
    run_state_machine_as_test(
        OffsetTrackerMachine,
        settings=settings(max_examples=100, stateful_step_count=40, deadline=None),
    )


def test_truncate_forgets_registrations_from_the_offset_on() -> None:
    tracker = OffsetTracker()
    tracker.register(0, 9)
    tracker.mark(0, 3)
    tracker.mark(6)
    tracker.truncate(5)
    assert tracker.last_registered == 4
    assert tracker.committable() == 4
    tracker.register(5, 7)  # fetched again after the seek
    assert tracker.committable() == 4
    assert not tracker.is_finished(6)  # the earlier mark of 6 was forgotten with it
    tracker.truncate(2)  # before the commit point: it moves back, as asked
    assert tracker.committable() == 2
    tracker.truncate(0)
    assert tracker.committable() is None
    tracker.truncate(100)  # above everything: nothing to forget
    assert tracker.committable() is None


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6)), min_size=1, max_size=8),
    st.sets(st.integers(0, 80)),
    st.integers(0, 90),
)
@example(shape=[(0, 0), (1, 0)], marks={0}, cut=2)  # a known gap just below the cut
def test_truncate_keeps_everything_below_the_offset(
    shape: list[tuple[int, int]], marks: set[int], cut: int
) -> None:
    tracker = OffsetTracker()
    registered: set[int] = set()
    start = 0
    for gap, length in shape:
        first = start + gap
        tracker.register(first, first + length)
        registered.update(range(first, first + length + 1))
        start = first + length + 1
    done = {m for m in marks if m in registered}
    for offset in done:
        tracker.mark(offset)
    tracker.truncate(cut)
    below = {o for o in registered if o < cut}
    unfinished = sorted(below - done)
    if unfinished:
        assert tracker.committable() == unfinished[0]
    elif below:
        # All kept messages are done. Offsets between the last of them and the cut were never
        # messages (a gap the tracker may know of), so the point may sit anywhere up to the cut.
        point = tracker.committable()
        assert point is not None
        assert max(below) + 1 <= point <= max(cut, max(below) + 1)
    else:
        assert tracker.committable() is None
    for offset in below:
        assert tracker.is_finished(offset) == (offset in done or offset not in registered)
