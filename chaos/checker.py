"""The checker: pure functions from a run's records to a :class:`Report`. No I/O, no clocks.

Inputs: the ledger (messages the broker acknowledged to the producer), every consumer process's
log (``chaos.records``), the faults injected (name, start, end, in the logs' monotonic clock),
the topic's end offsets and the group's committed offsets read after the run.

Definitions (a message is a ledger entry ``(partition, offset)``):

- **finished**: the first ``P`` (handler done) or ``D`` (dead-lettered) line for it in any log;
  ``finish(m)`` is that line's time. A message run again later is still finished at the first.
- **lost**: acknowledged, never finished. Must be 0.
- **duplicates**: ``P`` lines beyond the first of each message (``max_deliveries``: the most
  ``P`` lines of one message; ``duplicated_messages``: messages with more than one).
  At-least-once allows them; the report bounds them. ``duplicate_share`` is duplicates per
  acknowledged message (0.02: 2 % of the work was done again).
- **aborted**: ledger entries of kind ``aborted`` (written by a transactional producer whose
  transaction was aborted) are not messages: nothing expects them, and a ``P`` or ``D`` line for
  one (``aborted_processed``: a read_committed consumer saw an aborted record) breaks a
  guarantee.
- **order violation**: messages ``a`` before ``b`` in the same ordering group (the partition;
  with virtual partitions, the partition and key) with ``finish(b) < finish(a)``: ``b`` was
  finished while an earlier message of its group had not been by anyone. Every process runs a
  group in offset order from a point below which everything is finished (the committed offset),
  so replays, rebalances and zombies that finish late do not count; two batches of one
  partition running at once, a skipped message or a lane reordering keys do.
  Lost messages are reported as lost, not as order violations too.
- **commit ahead**: an ``S`` (stored: librdkafka commits only stored offsets) or ``C``
  (committed) line ``(p, o)`` at time ``t`` such that some acknowledged message ``(p, y)`` with
  ``y < o`` was not finished at ``t`` (``finish(y) > t``, or never). Finishing counts whichever
  process did it: with virtual partitions a new owner rightly relies on the offsets its
  predecessor finished (the commit metadata). Must be 0.
- **good message dead-lettered**: a ``D`` line for a message whose kind is ``ok``.
- **final offsets**: the committed offset of each partition must equal its end offset.
- **recovery time** of a fault: from the fault's end (the member or broker restarted, the
  broker continued; the injection itself for instant faults) to the moment every partition that
  received messages after that end had finished its first such message (the longest, over those
  partitions, of ``first finish at or after end of a message acknowledged after end`` minus
  ``end``). None when no message was acknowledged after the fault.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.records import Acked, ProcessLog

__all__ = ["Fault", "Report", "check"]

_NEVER = float("inf")
_EXAMPLES = 10

MessageId = tuple[int, int]  # (partition, offset)


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``start`` and ``end`` in monotonic ns (``end == start``: instant)."""

    name: str
    start: int
    end: int


@dataclass
class Report:
    """What one run's records show; :meth:`violations` lists what breaks a guarantee."""

    acked: int = 0
    processed_lines: int = 0
    finished: int = 0
    lost: int = 0
    duplicates: int = 0
    duplicated_messages: int = 0
    duplicate_share: float = 0.0
    max_deliveries: int = 0
    order_violations: int = 0
    commits_checked: int = 0
    commits_ahead: int = 0
    dead_lettered: int = 0
    expected_dead_letters: int = 0
    good_dead_lettered: int = 0
    unacked_processed: int = 0
    aborted: int = 0
    aborted_processed: int = 0
    torn_lines: int = 0
    #: Lines of handler misbehaviour: X (raised on purpose), H (hung), W (slow run), Z (paused),
    #: K (sought).
    injected: dict[str, int] = field(default_factory=dict)
    final_mismatches: dict[int, tuple[int | None, int]] = field(default_factory=dict)
    recovery_seconds: list[tuple[str, float | None]] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def violations(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{self.lost} acknowledged messages never processed")
        if self.order_violations:
            found.append(f"{self.order_violations} order violations")
        if self.commits_ahead:
            found.append(f"{self.commits_ahead} commits ahead of unfinished work")
        if self.good_dead_lettered:
            found.append(f"{self.good_dead_lettered} good messages dead-lettered")
        if self.aborted_processed:
            found.append(f"{self.aborted_processed} messages of aborted transactions processed")
        if self.final_mismatches:
            found.append(f"committed offsets differ from end offsets: {self.final_mismatches}")
        return found

    @property
    def ok(self) -> bool:
        return not self.violations()

    @property
    def max_recovery(self) -> float | None:
        times = [t for _, t in self.recovery_seconds if t is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["final_mismatches"] = {str(p): list(v) for p, v in self.final_mismatches.items()}
        data["violations"] = self.violations()
        return data

    def _example(self, kind: str, text: str) -> None:
        examples = self.examples.setdefault(kind, [])
        if len(examples) < _EXAMPLES:
            examples.append(text)


def check(
    ledger: Sequence[Acked],
    logs: Sequence[ProcessLog],
    *,
    end_offsets: Mapping[int, int],
    committed: Mapping[int, int | None],
    faults: Sequence[Fault] = (),
    per_key: bool = False,
) -> Report:
    """Check one run (see the module docstring); ``per_key``: order per partition and key."""
    aborted = {(m.partition, m.offset) for m in ledger if m.kind == "aborted"}
    ledger = [m for m in ledger if m.kind != "aborted"]
    report = Report(
        acked=len(ledger), aborted=len(aborted), torn_lines=sum(1 for log in logs if log.torn)
    )
    messages = {(m.partition, m.offset): m for m in ledger}
    finish, deliveries = _finishes(logs, messages, aborted, report)
    report.finished = sum(1 for m in messages if m in finish)
    _count_losses(messages, finish, deliveries, report)
    _check_order(ledger, finish, per_key, report)
    _check_commits(ledger, logs, finish, report)
    for partition, end in sorted(end_offsets.items()):
        if committed.get(partition) != end:
            report.final_mismatches[partition] = (committed.get(partition), end)
    report.recovery_seconds = [(f.name, _recovery(f, ledger, finish)) for f in faults]
    return report


def _finishes(
    logs: Iterable[ProcessLog],
    messages: Mapping[MessageId, Acked],
    aborted: Collection[MessageId],
    report: Report,
) -> tuple[dict[MessageId, int], dict[MessageId, int]]:
    finish: dict[MessageId, int] = {}
    deliveries: dict[MessageId, int] = defaultdict(int)
    for log in logs:
        for entry in log.entries:
            if entry.tag in ("X", "H", "W", "Z", "K"):
                report.injected[entry.tag] = report.injected.get(entry.tag, 0) + 1
            if entry.tag not in ("P", "D"):
                continue
            key = (entry.partition, entry.offset)
            if key in aborted:
                report.aborted_processed += 1
                report._example("aborted_processed", f"{key} in {log.member}")
                continue
            if key not in messages:
                report.unacked_processed += 1
                continue
            if entry.tag == "P":
                report.processed_lines += 1
                deliveries[key] += 1
            else:
                report.dead_lettered += 1
                if messages[key].kind == "ok":
                    report.good_dead_lettered += 1
                    report._example("good_dead_lettered", f"{key} in {log.member}")
            if entry.t < finish.get(key, _NEVER):
                finish[key] = entry.t
    return finish, deliveries


def _count_losses(
    messages: Mapping[MessageId, Acked],
    finish: Mapping[MessageId, int],
    deliveries: Mapping[MessageId, int],
    report: Report,
) -> None:
    for key, message in sorted(messages.items()):
        if message.kind != "ok":
            report.expected_dead_letters += 1
        if key not in finish:
            report.lost += 1
            report._example("lost", f"partition {key[0]} offset {key[1]} ({message.kind})")
        count = deliveries.get(key, 0)
        report.duplicates += max(0, count - 1)
        report.duplicated_messages += int(count > 1)
        report.max_deliveries = max(report.max_deliveries, count)
    report.duplicate_share = report.duplicates / len(messages) if messages else 0.0


def _check_order(
    ledger: Sequence[Acked], finish: Mapping[MessageId, int], per_key: bool, report: Report
) -> None:
    groups: dict[tuple[int, str], list[Acked]] = defaultdict(list)
    for message in ledger:
        groups[(message.partition, message.key if per_key else "")].append(message)
    for (partition, key), members in groups.items():
        latest = -1  # the latest finish among earlier offsets of the group
        latest_offset = -1
        for message in sorted(members, key=lambda m: m.offset):
            t = finish.get((partition, message.offset))
            if t is None:
                continue  # lost: reported as such
            if t < latest:
                report.order_violations += 1
                where = f"partition {partition}" + (f" key {key}" if per_key else "")
                report._example(
                    "order",
                    f"{where}: offset {message.offset} finished before offset {latest_offset}",
                )
            elif t > latest:
                latest, latest_offset = t, message.offset


def _check_commits(
    ledger: Sequence[Acked],
    logs: Iterable[ProcessLog],
    finish: Mapping[MessageId, int],
    report: Report,
) -> None:
    # Per partition: acknowledged offsets in order, and the latest finish among the first k.
    offsets: dict[int, list[int]] = defaultdict(list)
    for message in ledger:
        offsets[message.partition].append(message.offset)
    prefix_finish: dict[int, list[float]] = {}
    for partition, found in offsets.items():
        found.sort()
        running: list[float] = [-1.0]
        for offset in found:
            running.append(max(running[-1], finish.get((partition, offset), _NEVER)))
        prefix_finish[partition] = running
    for log in logs:
        for entry in log.entries:
            if entry.tag not in ("S", "C"):
                continue
            report.commits_checked += 1
            found = offsets.get(entry.partition, [])
            below = bisect.bisect_left(found, entry.offset)  # acknowledged offsets < entry.offset
            if below and prefix_finish[entry.partition][below] > entry.t:
                report.commits_ahead += 1
                unfinished = next(
                    o for o in found[:below] if finish.get((entry.partition, o), _NEVER) > entry.t
                )
                report._example(
                    "commit_ahead",
                    f"{log.member} {entry.tag} partition {entry.partition} offset {entry.offset}"
                    f" while offset {unfinished} was unfinished",
                )


def _recovery(
    fault: Fault, ledger: Sequence[Acked], finish: Mapping[MessageId, int]
) -> float | None:
    first: dict[int, float] = {}
    for message in ledger:
        if message.t < fault.end:
            continue
        t = finish.get((message.partition, message.offset))
        if t is None:
            first.setdefault(message.partition, _NEVER)
            continue
        t = max(t, fault.end)
        if t < first.get(message.partition, _NEVER):
            first[message.partition] = t
    if not first:
        return None
    latest = max(first.values())
    return None if latest == _NEVER else (latest - fault.end) / 1e9
