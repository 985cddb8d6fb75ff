"""Out-of-order progress in a committed offset's metadata: the offsets already finished above the
commit point, so that a new owner of the partition does not process them again.

Pure functions, no I/O. The metadata names the committed offset it was written with (its
*anchor*), then one of two ASCII payloads (no NUL), whichever is shorter:

- ``pfk3:<anchor>:r`` comma-separated ranges ``<start - previous end>-<length - 1>`` in base 36,
  the first start relative to the anchor: ``[(105, 107), (110, 110)]`` above 100 is
  ``pfk3:2s:r5-2,3-0``. Compact when finished work is contiguous.
- ``pfk3:<anchor>:b`` a bitmap of the offsets after the anchor (bit *i* set: offset
  ``anchor + 1 + i`` finished), zlib-compressed, URL-safe base64 without padding. Compact when
  lanes leave finished work scattered; a span of :data:`MAX_SPAN` offsets always fits.

The anchor is base 36 too. The ranges are only ever applied to the offset they were written
with: an offset moved from outside (``kafka-consumer-groups --reset-offsets``, the admin API's
``alter_consumer_group_offsets``, MirrorMaker 2's offset translation, which copies the source
group's metadata onto the translated offset) would otherwise have them applied to other messages,
which would then be skipped. :func:`decode` ignores, and says why, metadata whose anchor is not
the committed offset, the unanchored ``pfk1:``/``pfk2:`` of earlier versions, strings parafka did
not write, and anything out of bounds. Ignoring progress repeats work (duplicates), never loses
it.

Bounds (the encoder never writes past them, the decoder refuses anything past them, so decoding
costs a few milliseconds at most in the assignment callback): at most :data:`MAX_METADATA`
characters, finished offsets at most :data:`MAX_REACH` above the anchor (so a bitmap inflates to
at most ``MAX_REACH / 8`` bytes), at most :data:`MAX_RANGES` ranges. When the finished work does
not fit (the coordinator keeps lanes within ``MAX_SPAN`` of the commit point, so this is rare),
the furthest ranges are left out: after a restart they are processed again.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MAX_METADATA",
    "MAX_RANGES",
    "MAX_REACH",
    "MAX_SPAN",
    "PREFIX",
    "Decoded",
    "Problem",
    "decode",
    "encode",
]

PREFIX = "pfk3:"
#: Unanchored formats of earlier versions: recognised, never applied.
OLD_PREFIXES = ("pfk1:", "pfk2:")
#: Well under Kafka's default offset.metadata.max.bytes (4096).
MAX_METADATA = 2048
#: Offsets after the commit point whose bitmap always fits (6 bits a character, with margin).
MAX_SPAN = (MAX_METADATA - 64) * 6
#: Furthest finished offset above the anchor the metadata may name. A lane may start a batch at
#: the edge of the coordinator's window (``MAX_SPAN``), so finished work can reach past it.
MAX_REACH = 2 * MAX_SPAN
#: Most ranges the metadata may hold: every other offset of a full ``MAX_SPAN`` window.
MAX_RANGES = MAX_SPAN // 2

#: Why :func:`decode` ignored a metadata string.
Problem = Literal["anchor_mismatch", "old_format", "foreign", "undecodable"]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAX_OFFSET = 2**63 - 1
_MAX_BITMAP = (MAX_REACH + 7) // 8  # bytes
# The anchor is canonical base 36 (no leading zero) and fits a signed 64-bit offset (13 digits).
_ANCHORED = re.compile(r"pfk3:(0|[1-9a-z][0-9a-z]{0,12}):([rb])(.*)", re.DOTALL)
# A gap or a length is at most MAX_REACH, four base-36 digits.
_RANGES = re.compile(r"[0-9a-z]{1,4}-[0-9a-z]{1,4}(?:,[0-9a-z]{1,4}-[0-9a-z]{1,4})*")
_BASE64 = re.compile(r"[A-Za-z0-9_-]+")
_RUN = re.compile("1+")

Ranges = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Decoded:
    """What :func:`decode` found: the ``finished`` ranges (inclusive, sorted, disjoint, above the
    committed offset), or none and the ``problem`` with a sentence for people (``detail``)."""

    finished: list[tuple[int, int]] = field(default_factory=list)
    problem: Problem | None = None
    detail: str = ""


def _ignored(problem: Problem, detail: str) -> Decoded:
    return Decoded([], problem, detail)


def _b36(number: int) -> str:
    if number < 36:  # most gaps and run lengths: one digit
        return _DIGITS[number]
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def _check(committed: int, finished: Ranges) -> None:
    if committed < 0:
        raise ValueError(f"the committed offset must not be negative: {committed}")
    previous = committed
    for start, end in finished:
        if start <= previous or end < start:
            raise ValueError(f"ranges must be sorted, disjoint and above {committed}: {finished}")
        previous = end


def _within_bounds(committed: int, finished: Ranges) -> list[tuple[int, int]]:
    """The first :data:`MAX_RANGES` ranges, cut at :data:`MAX_REACH` above ``committed``."""
    reach = committed + MAX_REACH
    kept = []
    for start, end in finished[:MAX_RANGES]:
        if start > reach:
            break
        kept.append((start, min(end, reach)))
    return kept


def _ranges(committed: int, finished: Ranges) -> str:
    parts = []
    previous = committed
    for start, end in finished:
        parts.append(f"{_b36(start - previous)}-{_b36(end - start)}")
        previous = end
    return "r" + ",".join(parts)


def _bitmap(committed: int, finished: Ranges) -> str:
    # Bit i (byte i >> 3, bit i & 7) is offset committed + 1 + i: one int, little-endian.
    span = finished[-1][1] - committed
    bits = 0
    for start, end in finished:
        bits |= ((1 << (end - start + 1)) - 1) << (start - committed - 1)
    packed = zlib.compress(bits.to_bytes((span + 7) // 8, "little"), 9)
    return "b" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def encode(committed: int, finished: Ranges, limit: int = MAX_METADATA) -> str:
    """Metadata for ``finished`` inclusive ranges (sorted, disjoint, all above ``committed``),
    anchored to ``committed``; at most ``limit`` characters (never more than MAX_METADATA)."""
    _check(committed, finished)
    limit = min(limit, MAX_METADATA)
    head = f"{PREFIX}{_b36(committed)}:"
    kept = _within_bounds(committed, finished)
    while kept:
        # Each range takes at least 4 characters ("g-l,"): past that, skip writing them out.
        ranges_fit = len(head) + 4 * len(kept) <= limit
        text = head + _ranges(committed, kept) if ranges_fit else ""
        if not ranges_fit or len(text) > limit:
            bitmap = head + _bitmap(committed, kept)
            text = bitmap if not text else min(text, bitmap, key=len)
        if len(text) <= limit:
            return text
        kept = kept[: max(len(kept) * 3 // 4, len(kept) - 1)]  # leave out the furthest
    return ""


def decode(committed: int, metadata: str | None) -> Decoded:
    """The finished ranges :func:`encode` stored with ``committed`` as anchor. Anything else
    (another anchor, an older format, a foreign or damaged string, out of bounds) gives no
    ranges and a :data:`Problem`; empty metadata gives neither. Never raises; bounded in time
    and memory whatever the input."""
    if not metadata:
        return Decoded()
    if not metadata.startswith(PREFIX):
        if metadata.startswith(OLD_PREFIXES):
            return _ignored("old_format", f"unanchored {metadata[:4]} metadata of an older parafka")
        return _ignored("foreign", "not written by parafka")
    if len(metadata) > MAX_METADATA:
        return _ignored("undecodable", f"longer than {MAX_METADATA} characters")
    match = _ANCHORED.fullmatch(metadata)
    if match is None:
        return _ignored("undecodable", "no anchor")
    anchor = int(match[1], 36)
    if anchor > _MAX_OFFSET:
        return _ignored("undecodable", "the anchor is not an offset")
    if anchor != committed:
        return _ignored(
            "anchor_mismatch", f"written at offset {anchor}, the committed offset is {committed}"
        )
    if match[2] == "r":
        return _decode_ranges(committed, match[3])
    return _decode_bitmap(committed, match[3])


def _decode_ranges(committed: int, text: str) -> Decoded:
    if _RANGES.fullmatch(text) is None:
        return _ignored("undecodable", "malformed ranges")
    parts = text.split(",")
    if len(parts) > MAX_RANGES:
        return _ignored("undecodable", f"more than {MAX_RANGES} ranges")
    reach = committed + MAX_REACH
    ranges = []
    previous = committed
    for part in parts:
        gap, _, length = part.partition("-")
        start = previous + int(gap, 36)
        end = start + int(length, 36)
        if start <= previous:
            return _ignored("undecodable", "ranges not sorted and disjoint")
        if end > reach:
            return _ignored("undecodable", f"ranges reach past {MAX_REACH} offsets")
        ranges.append((start, end))
        previous = end
    return Decoded(ranges)


def _decode_bitmap(committed: int, text: str) -> Decoded:
    if _BASE64.fullmatch(text) is None:
        return _ignored("undecodable", "malformed bitmap")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        bits = inflater.decompress(packed, _MAX_BITMAP + 1)  # never inflates past the bound
    except (binascii.Error, ValueError, zlib.error):
        return _ignored("undecodable", "malformed bitmap")
    if len(bits) > _MAX_BITMAP:
        return _ignored("undecodable", f"bitmap reaches past {MAX_REACH} offsets")
    if not inflater.eof:
        return _ignored("undecodable", "truncated bitmap")
    if inflater.unused_data or not bits or bits[-1] == 0:
        return _ignored("undecodable", "malformed bitmap")
    # Bit i of the little-endian integer is offset committed + 1 + i; runs of ones are ranges.
    number = int.from_bytes(bits, "little")
    if (number & ~(number << 1)).bit_count() > MAX_RANGES:  # bits that start a run
        return _ignored("undecodable", f"more than {MAX_RANGES} ranges")
    flags = format(number, "b")[::-1]
    runs = [(m.start(), m.end()) for m in _RUN.finditer(flags)]
    first = committed + 1
    return Decoded([(first + start, first + end - 1) for start, end in runs])
