"""Swarm members: how a chaos member runs as ``parafka swarm``, and what its supervisor said.

A member with :class:`SwarmOptions` is ``parafka swarm chaos.app:app --nodes N ...`` instead of
``parafka server``: a supervisor forking N nodes (each a full app in the run's group). The
supervisor logs its events (``node.started``, ``node.exited``, ``node.restarted``,
``node.hung``) to the member's output as ``<event> index=<i> pid=<pid> key=value ...``;
:func:`parse_node_events` reads them back, so a fault loop can tell which pid runs which node
and when a node it signalled was replaced.

Pure: no I/O, no clocks (``chaos.cluster`` reads the files and ``/proc``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NodeCount",
    "NodeEvent",
    "NodeEventName",
    "SwarmOptions",
    "count_events",
    "parse_node_events",
    "replacement",
    "running_nodes",
    "unexpected_exits",
]

NodeEventName = Literal["node.started", "node.exited", "node.restarted", "node.hung"]
#: What :func:`count_events` counts: the events, exits by SIGKILL, exits of hung nodes.
NodeCount = Literal[NodeEventName, "node.killed", "node.hung_exited"]

_EVENT = re.compile(r"\b(node\.(?:started|exited|restarted|hung)) (index=\d+ .*)$")
_FIELD = re.compile(r"(?:^|\s)(\w+)=(\S*)")


@dataclass(frozen=True)
class SwarmOptions:
    """How a swarm member is run: ``nodes`` forked processes, a liveness report every
    ``report_interval`` s, a node without one for ``report_timeout`` s is hung.

    ``max_restarts`` is far above parafka's default (5): the supervisor counts a node's
    failures in a row while each incarnation ran less than 60 s, and the fault loops kill nodes
    more often than that on purpose; the default would end the member in a crash loop (exit 1),
    which is the swarm working as designed, not the fault under test."""

    nodes: int = 3
    report_interval: float = 1.0
    report_timeout: float = 4.0
    max_restarts: int = 1000

    def args(self) -> list[str]:
        """The ``parafka swarm`` options after ``MODULE:APP``."""
        return [
            "--nodes",
            str(self.nodes),
            "--node-report-interval",
            f"{self.report_interval:g}",
            "--node-report-timeout",
            f"{self.report_timeout:g}",
            "--max-restarts",
            str(self.max_restarts),
        ]


@dataclass(frozen=True)
class NodeEvent:
    """One supervisor event from a member's output, in file order."""

    name: NodeEventName
    index: int
    pid: int
    fields: dict[str, str]

    @property
    def killed(self) -> bool:
        """A ``node.exited`` of a node killed by SIGKILL."""
        return self.name == "node.exited" and self.fields.get("status") == "-9"

    @property
    def stopping(self) -> bool:
        """A ``node.exited`` while the whole swarm was stopping."""
        return self.fields.get("stopping") == "True"


def parse_node_events(text: str) -> list[NodeEvent]:
    """The supervisor's node events in ``text`` (a member's output; other lines ignored).

    Values with spaces (``how=killed by SIGKILL``) keep their first word only; ``index`` and
    ``pid`` come first and are whole. Nodes share the output with the supervisor, so a line
    cut by another process's write is possible: a line without ``index=`` and ``pid=`` numbers
    is skipped."""
    events = []
    for line in text.splitlines():
        match = _EVENT.search(line)
        if match is None:
            continue
        fields: dict[str, str] = {}
        for key, value in _FIELD.findall(match.group(2)):
            fields.setdefault(key, value)
        if not fields.get("pid", "").isdigit():
            continue
        name: NodeEventName = match.group(1)  # type: ignore[assignment]
        events.append(NodeEvent(name, int(fields["index"]), int(fields["pid"]), fields))
    return events


def running_nodes(events: Iterable[NodeEvent]) -> dict[int, int]:
    """Node index -> pid of the nodes started and not (yet) seen to exit."""
    running: dict[int, int] = {}
    for event in events:
        if event.name == "node.started":
            running[event.index] = event.pid
        elif event.name == "node.exited" and running.get(event.index) == event.pid:
            del running[event.index]
    return running


def replacement(events: Sequence[NodeEvent], index: int, pid: int) -> NodeEvent | None:
    """The ``node.restarted`` that replaced node ``index`` after its process ``pid`` exited
    (the exit must be logged first), or None yet."""
    exited = False
    for event in events:
        if event.index != index:
            continue
        if event.name == "node.exited" and event.pid == pid:
            exited = True
        elif exited and event.name == "node.restarted" and event.pid != pid:
            return event
    return None


def count_events(events: Iterable[NodeEvent]) -> dict[str, int]:
    """How many of each event, plus ``node.killed`` (exits by SIGKILL) and ``node.hung_exited``
    (exits of nodes the supervisor had found hung)."""
    counts: Counter[str] = Counter()
    for event in events:
        counts[event.name] += 1
        if event.killed:
            counts["node.killed"] += 1
        if event.name == "node.exited" and event.fields.get("hung") == "True":
            counts["node.hung_exited"] += 1
    return dict(sorted(counts.items()))


def unexpected_exits(events: Iterable[NodeEvent], signalled: Iterable[int]) -> list[NodeEvent]:
    """Exits the harness did not cause: a node that was not signalled (``signalled``: the pids
    a fault loop sent a signal to) exited while the swarm was not stopping."""
    ours = set(signalled)
    return [e for e in events if e.name == "node.exited" and not e.stopping and e.pid not in ours]
