"""The line formats of the ledger and of the consumers' logs, written and parsed here only.

Every line is ``<tag> <monotonic ns> <fields...>\\n``. The time is ``time.monotonic_ns()``,
which on Linux is one clock for every process of the machine, so lines of different files can
be ordered by it; inside one file, the order of lines is the order of events.

Ledger (written by the producer, one line per message the broker acknowledged)::

    A <t> <partition> <offset> <key> <seq> <kind>   kind: ok | poison | malformed | aborted

(``aborted``: written by a transactional producer, in a transaction it aborted: a
read_committed consumer must never see it. A committed transaction's messages are written with
the time of the commit, when they became visible.)

Consumer log (one file per consumer process: :func:`process_log_path`)::

    P <t> <partition> <offset>        the handler finished this message
    D <t> <partition> <offset>        parafka dead-lettered it (broker acknowledged the DLQ copy)
    S <t> <partition> <offset>        parafka stored this offset (librdkafka commits it)
    C <t> <partition> <offset>        parafka committed this offset synchronously
    X <t> <partition> <offset>        the handler raised on purpose (not finished)
    H <t> <partition> <offset>        the handler hangs on this message (never finishes)
    W <t> <partition> <offset>        the handler starts a slow run of this message
    Z <t> <partition> <offset>        the handler calls pause(offset) at this message, returns
    K <t> <partition> <offset>        the handler calls seek() at this message, returns
    G <t> <event> <partitions>        rebalance: assigned / revoked / lost, "p1,p2" or "-"

A process killed by SIGKILL may leave its last line without its newline: that torn line is
dropped (its message was not finished: the write comes before ``consume()`` returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Acked",
    "CorruptLog",
    "Entry",
    "Kind",
    "ProcessLog",
    "acked_line",
    "entry_line",
    "parse_ledger",
    "parse_log",
    "process_log_path",
]

Kind = Literal["ok", "poison", "malformed", "aborted"]
_KINDS: tuple[Kind, ...] = ("ok", "poison", "malformed", "aborted")
EntryTag = Literal["P", "D", "S", "C", "X", "H", "W", "Z", "K"]
_ENTRY_TAGS = frozenset("PDSCXHWZK")


class CorruptLog(ValueError):
    """A complete line (not the torn last one) that does not parse: a harness bug."""


@dataclass(frozen=True, slots=True)
class Acked:
    """A message the broker acknowledged to the producer."""

    t: int
    partition: int
    offset: int
    key: str
    seq: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of a consumer process about one offset (see the module docstring)."""

    tag: EntryTag
    t: int
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ProcessLog:
    """One consumer process's log: its entries in file order, and whether a torn line was
    dropped."""

    member: str
    entries: tuple[Entry, ...]
    torn: bool = False


def acked_line(record: Acked) -> str:
    return (
        f"A {record.t} {record.partition} {record.offset} {record.key} {record.seq} {record.kind}\n"
    )


def entry_line(tag: EntryTag, t: int, partition: int, offset: int) -> str:
    return f"{tag} {t} {partition} {offset}\n"


def process_log_path(base: str, process_name: str, pid: int) -> str:
    """The log file of one consumer process, from the member's ``CHAOS_LOG`` (``base``).

    A ``parafka server`` member is one process: ``base`` itself. A swarm member's nodes are
    forked from one supervisor and share its environment; each (process name ``node-<i>``,
    set by parafka in the node) writes ``<base without .log>.node-<i>.<pid>.log`` of its own,
    so a node killed in the middle of a line tears only its own last line, and each file stays
    in the time order of one process."""
    if not process_name.startswith("node-"):
        return base
    stem = base.removesuffix(".log")
    return f"{stem}.{process_name}.{pid}.log"


def _complete_lines(text: str) -> tuple[list[str], bool]:
    """The newline-terminated lines of ``text``, and True if a torn last line was dropped."""
    lines = text.split("\n")
    torn = lines[-1] != ""
    return [line for line in lines[:-1] if line], torn


def parse_ledger(text: str) -> tuple[list[Acked], bool]:
    """The ledger's acknowledged messages (and whether a torn last line was dropped)."""
    lines, torn = _complete_lines(text)
    records = []
    for number, line in enumerate(lines, 1):
        fields = line.split(" ")
        if len(fields) != 7 or fields[0] != "A" or fields[6] not in _KINDS:
            raise CorruptLog(f"ledger line {number}: {line!r}")
        try:
            t, partition, offset, seq = (
                int(fields[1]),
                int(fields[2]),
                int(fields[3]),
                int(fields[5]),
            )
        except ValueError as exc:
            raise CorruptLog(f"ledger line {number}: {line!r}") from exc
        kind = _KINDS[_KINDS.index(fields[6])]
        records.append(Acked(t, partition, offset, fields[4], seq, kind))
    return records, torn


def parse_log(member: str, text: str) -> ProcessLog:
    """A consumer process's log; rebalance lines (``G``) are kept out of the entries."""
    lines, torn = _complete_lines(text)
    entries = []
    for number, line in enumerate(lines, 1):
        fields = line.split(" ")
        if fields[0] == "G" and len(fields) == 4:
            continue
        if len(fields) != 4 or fields[0] not in _ENTRY_TAGS:
            raise CorruptLog(f"{member} line {number}: {line!r}")
        try:
            t, partition, offset = int(fields[1]), int(fields[2]), int(fields[3])
        except ValueError as exc:
            raise CorruptLog(f"{member} line {number}: {line!r}") from exc
        entries.append(Entry(fields[0], t, partition, offset))  # type: ignore[arg-type]
    return ProcessLog(member, tuple(entries), torn)
