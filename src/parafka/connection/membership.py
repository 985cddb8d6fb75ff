"""Noticing a client that stays out of its consumer group, from librdkafka's statistics.

After a broker pause or restart, librdkafka sometimes leaves a member out of its group for a
long time or for good (librdkafka#5511): its group handler knows the coordinator (state
``up``) but never gets back to the ``steady`` join state, so the member holds no partitions and
the rest of the group does its work. The listener feeds :class:`GroupWatch` the ``cgrp`` part of
each statistics report; when the member has been ``up`` but not ``steady`` for longer than the
limit, the listener replaces its client.

While no coordinator is known (``wait-coord``, ``query-coord``: the broker is down or
unreachable) the watch does not count: a new client could not do better, and replacing clients
during an outage would only pile up clients whose ``close()`` cannot finish.

Pure: no threads, no clock of its own (callers pass ``now``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupWatch", "default_rejoin_timeout", "group_state"]

#: librdkafka's defaults for the two settings a rebalance may legitimately take.
_MAX_POLL_INTERVAL_MS = 300_000
_SESSION_TIMEOUT_MS = 45_000
_SLACK = 10.0


def default_rejoin_timeout(config: Mapping[str, Any]) -> float:
    """Seconds a member may stay out of its group: longer than any rebalance can last.

    A classic rebalance waits up to ``max.poll.interval.ms`` for the slowest member, and a
    member whose session expired needs ``session.timeout.ms`` to notice; both, plus 10 s.
    """
    return (
        _milliseconds(config, "max.poll.interval.ms", _MAX_POLL_INTERVAL_MS)
        + _milliseconds(config, "session.timeout.ms", _SESSION_TIMEOUT_MS)
    ) / 1000.0 + _SLACK


def _milliseconds(config: Mapping[str, Any], key: str, default: int) -> float:
    """A librdkafka duration (an int or a numeric string); librdkafka itself rejects others
    when the client is built, so the default stands in for them here."""
    try:
        return float(config.get(key, default))
    except (TypeError, ValueError):
        return float(default)


def group_state(stats: str) -> dict[str, Any] | None:
    """The ``cgrp`` object of a librdkafka statistics report (None if it has none).

    The report can be large (one entry per partition); ``cgrp`` is a flat object, so it is
    cut out and parsed alone, and the whole report is parsed only if that fails.
    """
    start = stats.find('"cgrp":')
    if start < 0:
        return None
    opening = stats.find("{", start)
    closing = stats.find("}", opening)
    if opening >= 0 and closing > opening:
        try:
            found = json.loads(stats[opening : closing + 1])
        except ValueError:
            found = None
        if isinstance(found, dict):
            return found
    try:
        whole = json.loads(stats)
    except ValueError:
        return None
    group = whole.get("cgrp") if isinstance(whole, dict) else None
    return group if isinstance(group, dict) else None


@dataclass
class GroupWatch:
    """How long the member has been out of its group while its coordinator was known."""

    limit: float
    #: When the current ``up`` but not ``steady`` stretch began (None: not in one).
    since: float | None = None
    last: tuple[str, str] = field(default=("", ""))

    def observe(self, now: float, group: Mapping[str, Any]) -> None:
        state, join = str(group.get("state", "")), str(group.get("join_state", ""))
        self.last = (state, join)
        if state == "up" and join != "steady":
            if self.since is None:
                self.since = now
        else:
            self.since = None

    def stuck(self, now: float) -> bool:
        return self.since is not None and now - self.since >= self.limit

    def reset(self) -> None:
        self.since = None
        self.last = ("", "")

    def describe(self, now: float) -> str:
        state, join = self.last
        waited = 0.0 if self.since is None else now - self.since
        return f"group state {state!r}, join state {join!r} for {waited:.1f} s"
