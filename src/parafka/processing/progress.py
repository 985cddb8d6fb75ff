"""Out-of-order progress in a committed offset's metadata: the offsets already finished above
the commit point, so that a new owner of the partition does not process them again.

Pure functions. Format (ASCII, no NUL): ``pfk1:`` followed by comma-separated ranges, each
``<start - previous end>-<length - 1>`` in base 36, where the first start is relative to the
committed offset. ``[(105, 107), (110, 110)]`` above 100 is ``pfk1:5-2,3-0``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MAX_METADATA", "PREFIX", "decode", "encode"]

PREFIX = "pfk1:"
#: Well under Kafka's default offset.metadata.max.bytes (4096).
MAX_METADATA = 2048

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def encode(committed: int, finished: Sequence[tuple[int, int]]) -> str:
    """Metadata for ``finished`` inclusive ranges (sorted, disjoint, all above ``committed``)."""
    if not finished:
        return ""
    parts = []
    previous = committed
    for start, end in finished:
        if start <= previous or end < start:
            raise ValueError(f"ranges must be sorted, disjoint and above {committed}: {finished}")
        parts.append(f"{_b36(start - previous)}-{_b36(end - start)}")
        previous = end
    return PREFIX + ",".join(parts)


def decode(committed: int, metadata: str | None) -> list[tuple[int, int]]:
    """The finished ranges stored by :func:`encode`; [] for anything else (never raises)."""
    if not metadata or not metadata.startswith(PREFIX) or committed < 0:
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
