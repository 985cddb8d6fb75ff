"""The metadata encoding of finished-above-commit offsets: round-trips only onto the offset it was
written with, stays compact, and decodes anything else to nothing, with a reason, within bounds."""

from __future__ import annotations

import base64
import types
import zlib
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parafka.processing import progress

OFFSETS = st.integers(0, 2**62)


def ranges_above(committed: int, gaps_and_lengths: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ranges = []
    previous = committed
    for gap, length in gaps_and_lengths:
        start = previous + gap
        end = start + length
        ranges.append((start, end))
        previous = end
    return ranges


def b36(number: int) -> str:
    return progress._b36(number)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bitmap(committed: int, raw: bytes) -> str:
    """A ``pfk3:`` bitmap whose inflated bytes are ``raw`` (whatever they are)."""
    return f"pfk3:{b36(committed)}:b{b64(zlib.compress(raw, 9))}"


def assert_valid(committed: int, finished: list[tuple[int, int]]) -> None:
    assert len(finished) <= progress.MAX_RANGES
    previous = committed
    for start, end in finished:
        assert previous < start <= end <= committed + progress.MAX_REACH
        previous = end


# -- round trips --------------------------------------------------------------------------


@given(OFFSETS, st.lists(st.tuples(st.integers(1, 200), st.integers(0, 200)), max_size=50))
def test_encode_then_decode_onto_the_same_offset_gives_the_ranges_back(
    committed: int, shape: list[tuple[int, int]]
) -> None:
    ranges = ranges_above(committed, shape)
    metadata = progress.encode(committed, ranges)
    assert metadata.isascii()
    assert "\x00" not in metadata
    assert len(metadata) <= progress.MAX_METADATA
    if ranges:
        assert metadata.startswith(f"pfk3:{b36(committed)}:")
    assert progress.decode(committed, metadata) == progress.Decoded(ranges)


@given(OFFSETS, st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)), max_size=50))
def test_ranges_out_of_reach_are_left_out_never_claimed(
    committed: int, shape: list[tuple[int, int]]
) -> None:
    ranges = ranges_above(committed, shape)
    decoded = progress.decode(committed, progress.encode(committed, ranges))
    assert decoded.problem is None
    assert_valid(committed, decoded.finished)
    finished = {(start, end) for start, end in ranges}
    for start, end in decoded.finished:  # each one a finished range, or one cut at the reach
        assert (start, end) in finished or end == committed + progress.MAX_REACH
    within = [r for r in ranges if r[1] <= committed + progress.MAX_REACH]
    assert decoded.finished[: len(within)] == within


def test_the_example_from_the_docstring() -> None:
    assert progress.encode(100, [(105, 107), (110, 110)]) == "pfk3:2s:r5-2,3-0"
    assert progress.decode(100, "pfk3:2s:r5-2,3-0").finished == [(105, 107), (110, 110)]


def test_nothing_finished_is_empty_metadata_and_no_problem() -> None:
    assert progress.encode(7, []) == ""
    assert progress.decode(7, "") == progress.Decoded([], None, "")
    assert progress.decode(7, None) == progress.Decoded([], None, "")


def test_ranges_below_the_commit_or_unsorted_or_a_negative_commit_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted, disjoint and above"):
        progress.encode(10, [(5, 6)])
    with pytest.raises(ValueError, match="sorted, disjoint and above"):
        progress.encode(10, [(20, 21), (15, 16)])
    with pytest.raises(ValueError, match="must not be negative"):
        progress.encode(-1001, [(5, 6)])


def test_alternating_finished_offsets_fit_a_few_hundred_ranges_in_the_budget() -> None:
    # Every other offset finished above the commit point: the worst shape for the ranges.
    ranges = [(1000 + 2 * i, 1000 + 2 * i) for i in range(1, 400)]
    metadata = progress.encode(1000, ranges)
    assert len(metadata) <= progress.MAX_METADATA
    assert progress.decode(1000, metadata).finished == ranges


def test_every_other_offset_of_a_full_window_round_trips_at_the_largest_offsets() -> None:
    committed = 2**63 - 1 - 2 * progress.MAX_REACH  # a 13-digit anchor
    ranges = [(committed + 2 * i, committed + 2 * i) for i in range(1, progress.MAX_RANGES + 1)]
    assert ranges[-1][1] == committed + progress.MAX_SPAN
    metadata = progress.encode(committed, ranges)
    assert len(metadata) <= progress.MAX_METADATA
    assert progress.decode(committed, metadata).finished == ranges


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
    claimed = {o for start, end in decoded.finished for o in range(start, end + 1)}
    assert claimed <= set(offsets)  # never claims unfinished work
    if offsets and offsets[-1] - committed <= progress.MAX_SPAN:
        assert decoded.finished == ranges  # within the span the coordinator keeps, nothing is lost


def test_a_scattered_span_uses_the_bitmap() -> None:
    ranges = [(10 + 3 * i, 10 + 3 * i) for i in range(3000)]  # every third offset
    metadata = progress.encode(9, ranges)
    assert metadata.startswith("pfk3:9:b")
    assert progress.decode(9, metadata).finished == ranges


# -- what is ignored, and why -------------------------------------------------------------


@given(OFFSETS, OFFSETS, st.lists(st.tuples(st.integers(1, 50), st.integers(0, 50)), max_size=9))
def test_metadata_onto_another_offset_is_ignored(
    written: int, committed: int, shape: list[tuple[int, int]]
) -> None:
    metadata = progress.encode(written, ranges_above(written, [(1, 0), *shape]))
    decoded = progress.decode(committed, metadata)
    if committed == written:
        assert decoded.problem is None
    else:
        assert decoded.finished == []
        assert decoded.problem == "anchor_mismatch"
        assert f"written at offset {written}" in decoded.detail
        assert f"committed offset is {committed}" in decoded.detail


def test_the_bitmap_is_anchored_too() -> None:
    metadata = progress.encode(9, [(10 + 3 * i, 10 + 3 * i) for i in range(3000)])
    assert progress.decode(12, metadata).problem == "anchor_mismatch"
    assert progress.decode(-1001, metadata).problem == "anchor_mismatch"


@pytest.mark.parametrize(
    "metadata",
    ["pfk1:5-2,3-0", "pfk1:", "pfk2:eNrjYGBgAAAABQAB", "pfk2:" + "A" * 4000],
)
def test_unanchored_metadata_of_older_versions_is_ignored(metadata: str) -> None:
    decoded = progress.decode(100, metadata)
    assert decoded.finished == []
    assert decoded.problem == "old_format"


@pytest.mark.parametrize(
    "metadata", ["hello", "pfk", "pfk3", "PFK3:2s:r5-2", " pfk3:2s:r5-2", "{}", "x" * 5000]
)
def test_strings_parafka_did_not_write_are_ignored(metadata: str) -> None:
    decoded = progress.decode(100, metadata)
    assert decoded == progress.Decoded([], "foreign", decoded.detail)
    assert decoded.detail


_AT_100 = "pfk3:2s:"


@pytest.mark.parametrize(
    "metadata",
    [
        "pfk3:",
        "pfk3:2s",
        "pfk3:2s:",
        _AT_100 + "r",
        _AT_100 + "x5-2",
        "pfk3:02s:r5-2",  # not canonical
        "pfk3:-2s:r5-2",
        "pfk3:+2s:r5-2",
        "pfk3:2S:r5-2",
        "pfk3:" + "1" * 14 + ":r1-0",  # more digits than an offset has
        "pfk3:zzzzzzzzzzzzz:r1-0",  # 13 digits, above 2**63 - 1
        _AT_100 + "r0-0",  # starts at the commit point itself
        _AT_100 + "r1-1,0-0",  # overlapping
        _AT_100 + "r5-2,",
        _AT_100 + "r5_0-2",
        _AT_100 + "r 5-2",
        _AT_100 + "r5-2\n",
        _AT_100 + "r\u0665-2",  # an Arabic-Indic digit: int() would take it
        _AT_100 + "r10000-0",  # more digits than the reach needs
        _AT_100 + f"r1-{b36(progress.MAX_REACH)}",  # past the reach
        _AT_100 + "r" + ",".join(["zz-0"] * 20),  # sums past the reach
        _AT_100 + "b",
        _AT_100 + "b!!!!",
        _AT_100 + "bAAAA",  # not zlib
        _AT_100 + "b" + b64(zlib.compress(b"\x01")[:-2]),  # cut short
        _AT_100 + "b" + b64(zlib.compress(b"\x01") + b"x"),  # trailing bytes
        bitmap(100, b"\x01\x00"),  # ends with an empty byte: not what encode writes
        bitmap(100, b""),
        _AT_100 + "r" + "1-0," * 600,  # longer than MAX_METADATA
    ],
)
def test_damaged_metadata_is_undecodable(metadata: str) -> None:
    decoded = progress.decode(100, metadata)
    assert decoded.finished == []
    assert decoded.problem == "undecodable", decoded
    assert decoded.detail


# -- bounds against adversarial input -----------------------------------------------------


class RecordingZlib:
    """Stands in for the zlib module in progress: records every inflate call and its output."""

    error = zlib.error

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (max_length asked, bytes produced)

    def decompressobj(self) -> Any:
        real = zlib.decompressobj()
        calls = self.calls

        class Inflater:
            def decompress(self, data: bytes, max_length: int = 0) -> bytes:
                out = real.decompress(data, max_length)
                calls.append((max_length, len(out)))
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        return Inflater()

    def compress(self, data: bytes, level: int = -1) -> bytes:
        return zlib.compress(data, level)


@pytest.fixture
def inflates(monkeypatch: pytest.MonkeyPatch) -> RecordingZlib:
    recording = RecordingZlib()
    fake = types.SimpleNamespace(
        error=zlib.error, decompressobj=recording.decompressobj, compress=recording.compress
    )
    monkeypatch.setattr(progress, "zlib", fake)
    return recording


BOUND = (progress.MAX_REACH + 7) // 8 + 1  # one byte past the largest bitmap, to see the end


def test_a_zip_bomb_is_not_inflated_past_the_bound(inflates: RecordingZlib) -> None:
    metadata = bitmap(100, b"\x01" + b"\x00" * 1_500_000)  # 1.5 MB of bitmap
    assert len(metadata) <= progress.MAX_METADATA
    decoded = progress.decode(100, metadata)
    assert decoded.problem == "undecodable"
    assert "reaches past" in decoded.detail
    assert inflates.calls == [(BOUND, BOUND)]


def test_a_bomb_the_size_of_kafkas_metadata_limit_is_never_inflated(
    inflates: RecordingZlib,
) -> None:
    # 4,096 characters: what the broker accepts by default (the old decoder inflated whatever
    # bitmap it was given, here 4 MB from each 4 kB of input).
    packed = base64.urlsafe_b64encode(zlib.compress(b"\xff" * 4_000_000, 9)).decode()
    head = _AT_100 + "b"
    metadata = head + (packed * 4096)[: 4096 - len(head)]
    assert progress.decode(100, metadata).problem == "undecodable"
    assert progress.decode(100, "pfk2:" + metadata[len(head) :]).problem == "old_format"
    assert inflates.calls == []


def test_a_bitmap_of_too_many_ranges_is_undecodable(inflates: RecordingZlib) -> None:
    decoded = progress.decode(100, bitmap(100, b"\x55" * ((progress.MAX_REACH + 7) // 8)))
    assert decoded.problem == "undecodable"
    assert f"more than {progress.MAX_RANGES} ranges" in decoded.detail
    assert all(produced < BOUND for _, produced in inflates.calls)


def test_a_full_bitmap_is_one_range() -> None:
    decoded = progress.decode(100, bitmap(100, b"\xff" * ((progress.MAX_REACH + 7) // 8)))
    assert decoded.finished == [(101, 100 + progress.MAX_REACH)]


SUFFIXES = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz-,:rb", max_size=300),
    st.binary(max_size=1500).map(lambda b: "b" + base64.urlsafe_b64encode(b).decode()),
    st.binary(max_size=5000).map(
        lambda b: "b" + base64.urlsafe_b64encode(zlib.compress(b)).decode().rstrip("=")
    ),
)
METADATA = st.one_of(
    st.text(max_size=300),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["pfk1:", "pfk2:"]), SUFFIXES),
    st.builds(lambda anchor, rest: f"pfk3:{b36(anchor)}:{rest}", st.integers(0, 200), SUFFIXES),
    st.builds(lambda anchor, rest: f"pfk3:{anchor}:{rest}", st.text(max_size=15), SUFFIXES),
)


@given(st.integers(-1001, 200), METADATA)
def test_any_string_decodes_to_valid_ranges_or_to_nothing_with_a_reason(
    committed: int, metadata: str
) -> None:
    decoded = progress.decode(committed, metadata)
    assert isinstance(decoded, progress.Decoded)
    if decoded.problem is None:
        assert_valid(committed, decoded.finished)
        assert decoded.detail == ""
    else:
        assert decoded.problem in get_args(progress.Problem)
        assert decoded.finished == []
        assert decoded.detail


def _bitmap_bit_by_bit(committed: int, finished: list[tuple[int, int]]) -> str:
    """The bitmap as its format describes it, one bit at a time (the reference)."""
    span = finished[-1][1] - committed
    bits = bytearray((span + 7) // 8)
    for start, end in finished:
        for index in range(start - committed - 1, end - committed):
            bits[index >> 3] |= 1 << (index & 7)
    return "b" + base64.urlsafe_b64encode(zlib.compress(bytes(bits), 9)).decode().rstrip("=")


@given(OFFSETS, st.lists(st.tuples(st.integers(1, 40), st.integers(0, 40)), min_size=1))
def test_the_bitmap_matches_its_bit_by_bit_definition(
    committed: int, steps: list[tuple[int, int]]
) -> None:
    finished, previous = [], committed
    for gap, length in steps:
        finished.append((previous + gap, previous + gap + length))
        previous += gap + length
    assert progress._bitmap(committed, finished) == _bitmap_bit_by_bit(committed, finished)
