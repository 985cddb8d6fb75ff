"""The metadata encoding of finished-above-commit offsets round-trips and stays compact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parafka.processing import progress


def ranges_above(committed: int, gaps_and_lengths: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ranges = []
    previous = committed
    for gap, length in gaps_and_lengths:
        start = previous + gap
        end = start + length
        ranges.append((start, end))
        previous = end
    return ranges


@given(
    st.integers(0, 10**12),
    st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)), max_size=50),
)
def test_encode_then_decode_gives_the_ranges_back(
    committed: int, shape: list[tuple[int, int]]
) -> None:
    ranges = ranges_above(committed, shape)
    metadata = progress.encode(committed, ranges)
    assert metadata.isascii()
    assert "\x00" not in metadata
    assert progress.decode(committed, metadata) == ranges


def test_the_example_from_the_docstring() -> None:
    assert progress.encode(100, [(105, 107), (110, 110)]) == "pfk1:5-2,3-0"
    assert progress.decode(100, "pfk1:5-2,3-0") == [(105, 107), (110, 110)]


def test_nothing_finished_is_empty_metadata() -> None:
    assert progress.encode(7, []) == ""
    assert progress.decode(7, "") == []


@pytest.mark.parametrize(
    "metadata", [None, "hello", "pfk1:", "pfk1:zz", "pfk1:0-1", "pfk1:1-1,0-0", "pfk1:!-1"]
)
def test_foreign_or_damaged_metadata_decodes_to_nothing(metadata: str | None) -> None:
    assert progress.decode(100, metadata) == []


def test_ranges_below_the_commit_or_unsorted_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted, disjoint and above"):
        progress.encode(10, [(5, 6)])
    with pytest.raises(ValueError, match="sorted, disjoint and above"):
        progress.encode(10, [(20, 21), (15, 16)])


def test_alternating_finished_offsets_fit_a_few_hundred_ranges_in_the_budget() -> None:
    # Every other offset finished above the commit point: the worst shape for the encoding.
    ranges = [(1000 + 2 * i, 1000 + 2 * i) for i in range(1, 400)]
    assert len(progress.encode(1000, ranges)) <= progress.MAX_METADATA


@given(st.integers(0, 10**9), st.sets(st.integers(1, 5000), max_size=2500))
def test_scattered_progress_round_trips_or_keeps_a_safe_prefix(
    committed: int, done: set[int]
) -> None:
    offsets = sorted(committed + d for d in done)
    ranges: list[tuple[int, int]] = []
    for offset in offsets:
        if ranges and ranges[-1][1] == offset - 1:
            ranges[-1] = (ranges[-1][0], offset)
        else:
            ranges.append((offset, offset))
    metadata = progress.encode(committed, ranges)
    assert len(metadata) <= progress.MAX_METADATA
    decoded = progress.decode(committed, metadata)
    claimed = {o for start, end in decoded for o in range(start, end + 1)}
    assert claimed <= set(offsets)  # never claims unfinished work
    if offsets and offsets[-1] - committed <= progress.MAX_SPAN:
        assert decoded == ranges  # within the span the coordinator keeps, nothing is lost


def test_a_scattered_span_uses_the_bitmap() -> None:
    ranges = [(10 + 3 * i, 10 + 3 * i) for i in range(3000)]  # every third offset
    metadata = progress.encode(9, ranges)
    assert metadata.startswith("pfk2:")
    assert progress.decode(9, metadata) == ranges
