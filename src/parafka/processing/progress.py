"""Out-of-order progress in a committed offset's metadata: the offsets already finished above the
commit point, so that a new owner of the partition does not process them again.

Pure functions. Two ASCII encodings (no NUL), the shorter is used:

- ``pfk1:`` comma-separated ranges ``<start - previous end>-<length - 1>`` in base 36, the first
  start relative to the committed offset: ``[(105, 107), (110, 110)]`` above 100 is
  ``pfk1:5-2,3-0``. Compact when finished work is contiguous.
- ``pfk2:`` a bitmap of the offsets after the committed one (bit *i* set: offset
  ``committed + 1 + i`` finished), zlib-compressed, URL-safe base64 without padding. Compact when
  lanes leave finished work scattered; a span of :data:`MAX_SPAN` offsets always fits.

If neither fits in :data:`MAX_METADATA` (the coordinator keeps lanes within ``MAX_SPAN`` of the
commit point so this is rare), the furthest finished ranges are left out: after a restart they
are processed again — duplicates, never loss.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence

__all__ = ["MAX_METADATA", "MAX_SPAN", "PREFIX", "decode", "encode"]

PREFIX = "pfk1:"
BITMAP_PREFIX = "pfk2:"
#: Well under Kafka's default offset.metadata.max.bytes (4096).
MAX_METADATA = 2048
#: Offsets after the commit point whose bitmap always fits (6 bits a character, with margin).
MAX_SPAN = (MAX_METADATA - 64) * 6

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

Ranges = Sequence[tuple[int, int]]


def _b36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def _check(committed: int, finished: Ranges) -> None:
    previous = committed
    for start, end in finished:
        if start <= previous or end < start:
            raise ValueError(f"ranges must be sorted, disjoint and above {committed}: {finished}")
        previous = end


def _ranges(committed: int, finished: Ranges) -> str:
    parts = []
    previous = committed
    for start, end in finished:
        parts.append(f"{_b36(start - previous)}-{_b36(end - start)}")
        previous = end
    return PREFIX + ",".join(parts)


def _bitmap(committed: int, finished: Ranges) -> str:
    span = finished[-1][1] - committed
    bits = bytearray((span + 7) // 8)
    for start, end in finished:
        for offset in range(start, end + 1):
            index = offset - committed - 1
            bits[index >> 3] |= 1 << (index & 7)
    packed = zlib.compress(bytes(bits), 9)
    return BITMAP_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def encode(committed: int, finished: Ranges, limit: int = MAX_METADATA) -> str:
    """Metadata for ``finished`` inclusive ranges (sorted, disjoint, all above ``committed``)."""
    _check(committed, finished)
    kept = list(finished)
    while kept:
        text = _ranges(committed, kept)
        if len(text) > limit and kept[-1][1] - committed <= 8 * MAX_SPAN:
            text = min(text, _bitmap(committed, kept), key=len)
        if len(text) <= limit:
            return text
        kept = kept[: max(len(kept) * 3 // 4, len(kept) - 1)]  # leave out the furthest
        while kept and kept[-1][1] - committed > 8 * MAX_SPAN:
            kept.pop()
    return ""


def decode(committed: int, metadata: str | None) -> list[tuple[int, int]]:
    """The finished ranges stored by :func:`encode`; [] for anything else (never raises)."""
    if not metadata or committed < 0:
        return []
    if metadata.startswith(BITMAP_PREFIX):
        return _decode_bitmap(committed, metadata[len(BITMAP_PREFIX) :])
    if not metadata.startswith(PREFIX):
        return []
    ranges = []
    previous = committed
    try:
        for part in metadata[len(PREFIX) :].split(","):
            gap, _, span = part.partition("-")
            start = previous + int(gap, 36)
            end = start + int(span, 36)
            if start <= previous or end < start:
                return []
            ranges.append((start, end))
            previous = end
    except ValueError:
        return []
    return ranges


def _decode_bitmap(committed: int, text: str) -> list[tuple[int, int]]:
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        bits = zlib.decompress(packed)
    except (binascii.Error, ValueError, zlib.error):
        return []
    ranges: list[tuple[int, int]] = []
    for index in range(len(bits) * 8):
        if bits[index >> 3] & (1 << (index & 7)):
            offset = committed + 1 + index
            if ranges and ranges[-1][1] == offset - 1:
                ranges[-1] = (ranges[-1][0], offset)
            else:
                ranges.append((offset, offset))
    return ranges
