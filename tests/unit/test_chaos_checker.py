"""The chaos checker: each violation kind is detected, a correct run reports none, and logs cut
by SIGKILL (a torn last line) are read."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from chaos.checker import Fault, Report, check
from chaos.records import (
    Acked,
    CorruptLog,
    Entry,
    EntryTag,
    ProcessLog,
    acked_line,
    entry_line,
    parse_ledger,
    parse_log,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def ledger(partitions: int, per_partition: int, keys: int = 2) -> list[Acked]:
    return [
        Acked(t=o, partition=p, offset=o, key=f"k{o % keys}", seq=o // keys, kind="ok")
        for p in range(partitions)
        for o in range(per_partition)
    ]


def log(member: str, *entries: tuple[EntryTag, int, int, int]) -> ProcessLog:
    return ProcessLog(member, tuple(Entry(*e) for e in entries))


def run(
    acked: Sequence[Acked],
    logs: Sequence[ProcessLog],
    committed: dict[int, int | None] | None = None,
    faults: Sequence[Fault] = (),
    per_key: bool = False,
) -> Report:
    ends: dict[int, int] = {}
    for m in acked:
        ends[m.partition] = max(ends.get(m.partition, 0), m.offset + 1)
    return check(
        acked,
        logs,
        end_offsets=ends,
        committed=ends if committed is None else committed,
        faults=faults,
        per_key=per_key,
    )


def in_order(member: str, partition: int, count: int, start_t: int = 100) -> ProcessLog:
    entries: list[tuple[EntryTag, int, int, int]] = []
    t = start_t
    for offset in range(count):
        entries.append(("P", t, partition, offset))
        entries.append(("S", t + 1, partition, offset + 1))
        t += 2
    return log(member, *entries)


def test_a_correct_run_has_no_violation() -> None:
    report = run(ledger(1, 5), [in_order("m1", 0, 5)])
    assert report.ok, report.violations()
    assert (report.lost, report.duplicates, report.max_deliveries) == (0, 0, 1)
    assert report.commits_checked == 5


def test_a_message_never_processed_is_lost() -> None:
    entries = [e for e in in_order("m1", 0, 5).entries if not (e.tag == "P" and e.offset == 3)]
    report = run(ledger(1, 5), [ProcessLog("m1", tuple(entries))])
    assert report.lost == 1
    assert report.examples["lost"] == ["partition 0 offset 3 (ok)"]
    # The stores past offset 3 were ahead of it too; order is not double-counted.
    assert report.commits_ahead == 2
    assert report.order_violations == 0


def test_duplicates_are_counted_and_bounded() -> None:
    first = log("m1", ("P", 1, 0, 0), ("P", 2, 0, 1), ("P", 3, 0, 2))
    replay = log("m2", ("P", 10, 0, 1), ("P", 11, 0, 2), ("P", 12, 0, 1))
    report = run(ledger(1, 3), [first, replay])
    assert report.ok
    assert (report.duplicates, report.max_deliveries) == (3, 3)
    assert report.duplicated_messages == 2
    assert report.duplicate_share == pytest.approx(1.0)  # 3 runs again of 3 messages


def test_duplicate_share_is_per_acknowledged_message() -> None:
    once = in_order("m1", 0, 8)
    again = log("m2", ("P", 100, 0, 6), ("P", 101, 0, 7))
    report = run(ledger(1, 8), [once, again])
    assert (report.duplicates, report.duplicated_messages) == (2, 2)
    assert report.duplicate_share == pytest.approx(0.25)
    assert run(ledger(1, 8), [once]).duplicate_share == 0.0
    assert run([], []).duplicate_share == 0.0


def test_aborted_records_are_not_expected_and_must_not_be_processed() -> None:
    acked = [
        Acked(1, 0, 0, "k", 0, "ok"),
        Acked(2, 0, 1, "k", 1, "aborted"),
        Acked(3, 0, 2, "k", 2, "aborted"),
        # offset 3: the abort marker; offset 4: committed
        Acked(5, 0, 4, "k", 3, "ok"),
    ]
    good = log("m", ("P", 6, 0, 0), ("P", 7, 0, 4), ("S", 8, 0, 6))
    ends = {0: 6}
    report = check(acked, [good], end_offsets=ends, committed={0: 6})
    assert report.ok, report.violations()
    assert (report.acked, report.aborted, report.lost, report.commits_ahead) == (2, 2, 0, 0)
    seen = log("m", ("P", 6, 0, 0), ("P", 7, 0, 1), ("P", 8, 0, 4), ("S", 9, 0, 6))
    report = check(acked, [seen], end_offsets=ends, committed={0: 6})
    assert report.aborted_processed == 1
    assert report.examples["aborted_processed"] == ["(0, 1) in m"]
    assert not report.ok
    # An unfinished committed message behind a store is still a commit ahead across the gap.
    ahead = log("m", ("P", 6, 0, 0), ("S", 7, 0, 6), ("P", 8, 0, 4))
    assert check(acked, [ahead], end_offsets=ends, committed={0: 6}).commits_ahead == 1


def test_a_later_offset_finished_first_is_an_order_violation() -> None:
    report = run(ledger(1, 3), [log("m1", ("P", 1, 0, 0), ("P", 2, 0, 2), ("P", 3, 0, 1))])
    assert report.order_violations == 1
    assert report.examples["order"] == ["partition 0: offset 2 finished before offset 1"]


def test_two_processes_interleaving_a_partition_is_an_order_violation() -> None:
    a = log("a", ("P", 1, 0, 0), ("P", 4, 0, 2))
    b = log("b", ("P", 3, 0, 3), ("P", 5, 0, 1))
    assert run(ledger(1, 4), [a, b]).order_violations == 2


def test_per_key_order_allows_keys_to_interleave() -> None:
    acked = ledger(1, 4, keys=2)  # offsets 0, 2 are k0; 1, 3 are k1
    lanes = log("m", ("P", 1, 0, 1), ("P", 2, 0, 3), ("P", 3, 0, 0), ("P", 4, 0, 2))
    assert run(acked, [lanes], per_key=True).order_violations == 0
    assert run(acked, [lanes], per_key=False).order_violations == 2
    swapped = log("m", ("P", 1, 0, 2), ("P", 2, 0, 0), ("P", 3, 0, 1), ("P", 4, 0, 3))
    assert run(acked, [swapped], per_key=True).order_violations == 1


def test_a_zombie_finishing_late_is_no_violation() -> None:
    # a owned the partition, lost it mid-batch; b replays from the commit point 2 in order
    # while a still finishes offsets 3 and 4 late.
    a = log("a", ("P", 1, 0, 0), ("P", 2, 0, 1), ("S", 3, 0, 2), ("P", 4, 0, 2), ("P", 9, 0, 3))
    b = log("b", ("P", 5, 0, 2), ("P", 6, 0, 3), ("P", 7, 0, 4), ("S", 8, 0, 5))
    report = run(ledger(1, 5), [a, b])
    assert report.ok, report.violations()
    assert report.duplicates == 2


def test_a_store_past_unfinished_work_is_a_commit_ahead() -> None:
    entries = log("m", ("P", 1, 0, 0), ("S", 2, 0, 2), ("P", 3, 0, 1))
    report = run(ledger(1, 2), [entries])
    assert report.commits_ahead == 1
    assert report.examples["commit_ahead"] == [
        "m S partition 0 offset 2 while offset 1 was unfinished"
    ]


def test_a_commit_may_rely_on_work_another_process_finished() -> None:
    # Virtual partitions: b skips offset 1, finished by a (commit metadata), and commits past it.
    a = log("a", ("P", 1, 0, 1), ("C", 2, 0, 0))
    b = log("b", ("P", 3, 0, 0), ("P", 4, 0, 2), ("C", 5, 0, 3))
    assert run(ledger(1, 3), [a, b], per_key=True).ok


def test_a_synchronous_commit_ahead_is_detected_in_another_partition() -> None:
    a = log("a", ("P", 1, 0, 0), ("P", 2, 1, 0), ("C", 3, 1, 2), ("P", 4, 1, 1))
    report = run(ledger(2, 2), [a, log("b", ("P", 5, 0, 1))])
    assert report.commits_ahead == 1


def test_dead_letters_finish_poison_messages_only() -> None:
    acked = [
        Acked(1, 0, 0, "k", 0, "ok"),
        Acked(2, 0, 1, "k", 1, "poison"),
        Acked(3, 0, 2, "k", 2, "malformed"),
    ]
    good = log("m", ("P", 5, 0, 0), ("D", 6, 0, 1), ("D", 7, 0, 2), ("S", 8, 0, 3))
    report = run(acked, [good])
    assert report.ok
    assert (report.dead_lettered, report.expected_dead_letters) == (2, 2)
    bad = log("m", ("D", 5, 0, 0), ("D", 6, 0, 1), ("D", 7, 0, 2))
    assert run(acked, [bad]).good_dead_lettered == 1


def test_final_committed_offsets_must_equal_end_offsets() -> None:
    report = run(ledger(2, 3), [in_order("a", 0, 3), in_order("b", 1, 3)], {0: 3, 1: 2})
    assert report.final_mismatches == {1: (2, 3)}
    assert not report.ok
    missing = run(ledger(1, 3), [in_order("a", 0, 3)], {})
    assert missing.final_mismatches == {0: (None, 3)}


def test_recovery_is_measured_from_the_fault_end_to_the_slowest_partition() -> None:
    acked = [Acked(t, p, o, "k", o, "ok") for p, o, t in [(0, 0, 10), (1, 0, 10), (0, 1, 30)]]
    acked += [Acked(31, 1, 1, "k", 1, "ok")]
    logs = [log("m", ("P", 11, 0, 0), ("P", 12, 1, 0), ("P", 2_000_000_040, 0, 1))]
    logs.append(log("n", ("P", 3_000_000_020, 1, 1)))
    report = run(acked, logs, faults=[Fault("kill", 15, 20), Fault("late", 100, 4_000_000_000)])
    assert report.recovery_seconds[0] == ("kill", pytest.approx(3.0))
    assert report.recovery_seconds[1] == ("late", None)  # nothing produced after it


def test_processed_messages_that_were_never_acknowledged_are_counted_apart() -> None:
    report = run(ledger(1, 1), [log("m", ("P", 1, 0, 0), ("P", 2, 0, 7))])
    assert report.ok
    assert report.unacked_processed == 1


def test_injected_misbehaviour_is_counted() -> None:
    entries = log("m", ("X", 1, 0, 0), ("X", 2, 0, 0), ("W", 3, 0, 0), ("P", 4, 0, 0))
    steered = log("o", ("Z", 6, 0, 0), ("K", 7, 0, 0), ("Z", 8, 0, 0))
    report = run(ledger(1, 1), [entries, log("n", ("H", 5, 0, 0)), steered])
    assert report.ok
    assert report.injected == {"X": 2, "W": 1, "H": 1, "Z": 2, "K": 1}
    assert parse_log("o", entry_line("Z", 6, 0, 0) + entry_line("K", 7, 0, 0)).entries == (
        Entry("Z", 6, 0, 0),
        Entry("K", 7, 0, 0),
    )


# -- the line formats ------------------------------------------------------------------------


def test_log_lines_round_trip_and_a_torn_last_line_is_dropped() -> None:
    text = entry_line("P", 5, 1, 7) + "G 6 assigned 0,1\n" + entry_line("S", 8, 1, 8) + "P 9 1"
    parsed = parse_log("m", text)
    assert parsed.entries == (Entry("P", 5, 1, 7), Entry("S", 8, 1, 8))
    assert parsed.torn
    assert not parse_log("m", text[: text.rindex("\n") + 1]).torn


def test_a_corrupt_line_before_the_end_is_an_error() -> None:
    with pytest.raises(CorruptLog, match="line 2"):
        parse_log("m", "P 1 0 0\nP 2 zero 1\nP 3 0 2\n")


def test_ledger_round_trips_and_tolerates_a_torn_line() -> None:
    records = [Acked(1, 0, 0, "k1", 0, "ok"), Acked(2, 3, 9, "k2", 4, "malformed")]
    text = "".join(acked_line(r) for r in records)
    assert parse_ledger(text) == (records, False)
    assert parse_ledger(text + "A 3 0 1 k")[0] == records
    with pytest.raises(CorruptLog):
        parse_ledger("A 1 0 0 k 0 weird\n")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=39), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=2000),
)
def test_any_prefix_cut_of_a_log_parses_to_a_prefix_of_its_entries(
    offsets: list[int], cut: int
) -> None:
    entries = [Entry("P", i, 0, o) for i, o in enumerate(offsets)]
    text = "".join(entry_line(e.tag, e.t, e.partition, e.offset) for e in entries)
    parsed = parse_log("m", text[:cut])
    assert parsed.entries == tuple(entries[: len(parsed.entries)])
    assert parsed.torn == (cut < len(text) and text[:cut] != "" and not text[:cut].endswith("\n"))


@st.composite
def replaying_runs(draw: st.DrawFn) -> tuple[int, list[ProcessLog]]:
    """Processes that each take the partition from the commit point and process in order, some
    killed part-way (their later work repeated): every guarantee holds, duplicates may occur."""
    total = draw(st.integers(min_value=1, max_value=30))
    committed, t, logs = 0, 0, []
    while committed < total:
        stop = draw(st.integers(min_value=committed + 1, max_value=total))
        extra = draw(st.integers(min_value=0, max_value=total - stop))  # done, not committed
        entries = []
        for offset in range(committed, stop + extra):
            t += 1
            entries.append(Entry("P", t, 0, offset))
            if offset < stop:
                t += 1
                entries.append(Entry("S", t, 0, offset + 1))
        logs.append(ProcessLog(f"m{len(logs)}", tuple(entries)))
        committed = stop
    return total, logs


@settings(max_examples=200, deadline=None)
@given(replaying_runs(), st.data())
def test_replaying_runs_are_correct_and_each_injected_defect_is_found(
    run_and_logs: tuple[int, list[ProcessLog]], data: st.DataObject
) -> None:
    total, logs = run_and_logs
    acked = ledger(1, total)
    report = run(acked, logs)
    assert report.ok, report.violations()
    processed = [(i, j) for i, lg in enumerate(logs) for j, e in enumerate(lg.entries)]
    processed = [(i, j) for i, j in processed if logs[i].entries[j].tag == "P"]
    victim = data.draw(st.sampled_from(processed))
    offset = logs[victim[0]].entries[victim[1]].offset
    # Drop every processing of one offset: lost.
    dropped = [
        ProcessLog(
            lg.member, tuple(e for e in lg.entries if not (e.tag == "P" and e.offset == offset))
        )
        for lg in logs
    ]
    assert run(acked, dropped).lost == 1
    # A store one past the end, before anything ran: ahead of unfinished work.
    early = [ProcessLog("early", (Entry("S", 0, 0, total),)), *logs]
    assert run(acked, early).commits_ahead == 1
