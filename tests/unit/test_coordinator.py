"""The per-partition coordinator's rules, driven directly (no threads, no broker)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import parafka
from parafka.config import Settings
from parafka.instrumentation import Event, Monitor
from parafka.processing.coordinator import Coordinator
from parafka.processing.jobs import ConsumeJob, HookJob, Job
from parafka.routing import Route

from .fakes import messages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Calls(parafka.Consumer):
    log: ClassVar[list[tuple[str, Any]]] = []
    fail_offsets: ClassVar[set[int]] = set()

    def initialized(self) -> None:
        Calls.log.append(("initialized", self.partition))

    def consume(self, messages: parafka.Messages) -> None:
        Calls.log.append(("consume", [m.offset for m in messages]))
        for message in messages:
            if message.offset in Calls.fail_offsets:
                raise ValueError(f"bad {message.offset}")

    def revoked(self) -> None:
        Calls.log.append(("revoked", self.partition))

    def shutdown(self) -> None:
        Calls.log.append(("shutdown", self.partition))


class Marking(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        self.mark_as_consumed(messages[1])


@pytest.fixture(autouse=True)
def _reset() -> None:
    Calls.log = []
    Calls.fail_offsets = set()


def one(jobs: list[Job]) -> Job:
    assert len(jobs) == 1, jobs
    return jobs[0]


def batch(jobs: list[Job]) -> ConsumeJob:
    job = one(jobs)
    assert isinstance(job, ConsumeJob)
    return job


def coordinator(
    consumer: type[parafka.Consumer] = Calls,
    manual: bool = False,
    clock: Clock | None = None,
    events: list[Event] | None = None,
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=consumer,
        group_id="g",
        subscription_group="default",
        manual_offset_management=manual,
    )
    monitor = Monitor()
    if events is not None:
        monitor.subscribe("*", events.append)
    settings = Settings(max_messages=3, pause_timeout=1.0, pause_max_timeout=4.0)
    return Coordinator(
        route,
        0,
        settings,
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock or Clock(),
    )


def test_one_batch_in_flight_and_the_next_comes_from_the_backlog() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 4)))
    assert (job.first_offset, job.last_offset) == (0, 2)
    assert c.fetched(messages(5, 6)) == []  # busy: kept in the backlog
    assert c.backlog_size == 4
    assert c.committable() == 0
    next_job = batch(job.run())
    assert (next_job.first_offset, next_job.last_offset) == (3, 5)
    assert c.committable() == 3
    assert Calls.log[:2] == [("initialized", 0), ("consume", [0, 1, 2])]


def test_a_failed_batch_is_retried_one_message_at_a_time_after_an_exponential_back_off() -> None:
    clock = Clock()
    events: list[Event] = []
    c = coordinator(clock=clock, events=events)
    Calls.fail_offsets = {1}
    job = batch(c.fetched(messages(0, 2)))
    assert job.run() == []  # failed: nothing before the back-off ends
    assert c.committable() == 0
    assert c.due() == []
    clock.now += 1.0
    alone = batch(c.due())  # which message failed is unknown: one at a time
    assert (alone.first_offset, alone.last_offset) == (0, 0)
    alone = batch(alone.run())  # offset 0 is fine, offset 1 follows at once
    assert (alone.first_offset, alone.last_offset) == (1, 1)
    assert alone.run() == []  # fails again: back off 1 s (first failure since 0 passed)
    assert c.committable() == 1
    clock.now += 1.0
    Calls.fail_offsets = set()
    alone = batch(c.due())
    assert (alone.first_offset, alone.last_offset) == (1, 1)
    rest = batch(alone.run())  # past the failing message: batches again
    assert (rest.first_offset, rest.last_offset) == (2, 2)
    rest.run()
    assert c.committable() == 3
    retries = [e for e in events if e.name == "consumer.retry"]
    assert [(e["offset"], e["backoff"]) for e in retries] == [(0, 1.0), (1, 1.0)]
    consumed = [call[1] for call in Calls.log if call[0] == "consume"]
    assert consumed == [[0, 1, 2], [0], [1], [1], [2]]


class FakeProducer:
    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes | None, list[tuple[str, Any]]]] = []

    def send(self, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("broker said no")
        self.sent.append((topic, value, list(headers)))


def dlq_coordinator(
    producer: FakeProducer | None, topic: str | None, clock: Clock, events: list[Event]
) -> Coordinator:
    route = Route(
        topic="t",
        consumer=Calls,
        group_id="g",
        subscription_group="default",
        dead_letter_queue=parafka.DeadLetterQueue(topic=topic, max_retries=2),
    )
    monitor = Monitor()
    monitor.subscribe("*", events.append)
    return Coordinator(
        route,
        0,
        Settings(max_messages=3, pause_timeout=1.0, pause_max_timeout=4.0),
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        producer=producer,  # type: ignore[arg-type]
        clock=clock,
    )


def drive(c: Coordinator, clock: Clock, jobs: list[Job], rounds: int = 20) -> None:
    """Run every ready job, letting back-offs pass, until nothing is left to do."""
    for _ in range(rounds):
        while jobs:
            jobs.extend(jobs.pop(0).run())
        clock.now += 10.0
        jobs = c.due()
        if not jobs:
            return


def test_a_poison_message_goes_to_the_dead_letter_queue_after_max_retries() -> None:
    clock, events = Clock(), []
    producer = FakeProducer()
    c = dlq_coordinator(producer, "t.dlq", clock, events)
    Calls.fail_offsets = {1}
    drive(c, clock, c.fetched(messages(0, 4)))
    runs_of_1 = sum(call[1].count(1) for call in Calls.log if call[0] == "consume")
    assert runs_of_1 == 3  # max_retries=2: it ran 3 times in all (once inside the batch)
    assert [topic for topic, _, _ in producer.sent] == ["t.dlq"]
    headers = dict(producer.sent[0][2])
    assert headers["parafka-original-offset"] == b"1"
    assert headers["parafka-original-topic"] == b"t"
    assert headers["parafka-attempts"] == b"3"
    assert headers["parafka-error-type"] == b"builtins.ValueError"
    assert headers["parafka-error-message"] == b"bad 1"
    assert c.committable() == 5
    consumed = [call[1] for call in Calls.log if call[0] == "consume"]
    # The rest of the failed batch runs alone too (another poison message would be found the
    # same way); past the failed batch, batches again.
    assert consumed[-2:] == [[2], [3, 4]]
    assert [e["offset"] for e in events if e.name == "dead_letter_queue.dispatched"] == [1]


def test_the_dead_letter_event_comes_before_its_offset_can_be_stored() -> None:
    # Found while writing the chaos checker, which counts a dead letter as finished work: a
    # subscriber that records dead letters must see one before an offset past it is stored.
    clock, events = Clock(), []
    c = dlq_coordinator(FakeProducer(), "t.dlq", clock, events)
    seen: list[int | None] = []
    c._monitor.subscribe("dead_letter_queue.dispatched", lambda _e: seen.append(c.committable()))
    Calls.fail_offsets = {1}
    drive(c, clock, c.fetched(messages(0, 4)))
    assert seen == [1]  # offset 1 was not yet committable when its dead letter was announced
    assert c.committable() == 5


def test_a_failed_dead_letter_produce_skips_nothing_and_is_retried() -> None:
    clock, events = Clock(), []
    producer = FakeProducer(fail=2)
    c = dlq_coordinator(producer, "t.dlq", clock, events)
    Calls.fail_offsets = {0}
    jobs = c.fetched(messages(0, 1))
    for _ in range(4):  # the batch, then offset 0 alone twice, then the first DLQ attempt
        while jobs:
            jobs.extend(jobs.pop(0).run())
        clock.now += 10.0
        jobs = c.due()
    assert c.committable() == 0  # the DLQ has not acknowledged: offset 0 is not done
    drive(c, clock, jobs)
    assert len(producer.sent) == 1
    assert c.committable() == 2
    errors = [e["type"] for e in events if e.name == "error.occurred"]
    assert errors.count("dead_letter_queue.produce") == 2


def test_a_dead_letter_queue_without_topic_skips_the_message() -> None:
    clock, events = Clock(), []
    c = dlq_coordinator(None, None, clock, events)
    Calls.fail_offsets = {2}
    drive(c, clock, c.fetched(messages(0, 3)))
    assert c.committable() == 4
    skipped = [e for e in events if e.name == "dead_letter_queue.dispatched"]
    assert [(e["offset"], e["skipped"]) for e in skipped] == [(2, True)]


def test_listed_critical_errors_stop_without_marking() -> None:
    class Fatal(Exception):
        pass

    class Raising(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            raise Fatal("stop everything")

    stops: list[BaseException] = []
    route = Route(topic="t", consumer=Raising, group_id="g", subscription_group="default")
    c = Coordinator(
        route,
        0,
        Settings(critical_errors=(Fatal,)),
        Monitor(),
        notify=lambda _c: None,
        on_critical=stops.append,
    )
    assert batch(c.fetched(messages(0, 2))).run() == []
    assert [type(e) for e in stops] == [Fatal]
    assert c.committable() == 0
    assert c.due() == []  # nothing is retried: the app is stopping


def test_manual_marking_commits_only_what_was_marked() -> None:
    c = coordinator(consumer=Marking, manual=True)
    batch(c.fetched(messages(10, 12))).run()
    assert c.committable() == 12


def test_marking_outside_the_batch_is_refused() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 2)))
    with pytest.raises(ValueError, match="not in the batch"):
        c.mark(job, 7)


def test_after_revoke_a_late_batch_moves_no_offset_and_revoked_runs_after_it() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 5)))
    point, hooks = c.revoke()
    assert point == (0, "")
    assert hooks == []  # the batch is still running
    assert c.committable() is None
    after = one(job.run())
    assert isinstance(after, HookJob)
    assert after.hook == "revoked"
    assert after.run() == []
    assert Calls.log[-2:] == [("consume", [0, 1, 2]), ("revoked", 0)]
    assert c.idle
    assert c.fetched(messages(6, 7)) == []  # nothing new for a revoked partition


def test_close_stops_new_batches_and_runs_shutdown_once() -> None:
    c = coordinator()
    job = batch(c.fetched(messages(0, 5)))
    assert c.close() == []
    hook = one(job.run())
    assert isinstance(hook, HookJob)
    assert hook.hook == "shutdown"
    hook.run()
    assert c.committable() == 3
    point, again = c.revoke()  # the client's close revokes everything afterwards
    assert (point, again) == ((3, ""), [])
    assert [name for name, _ in Calls.log].count("shutdown") == 1
    assert "revoked" not in [name for name, _ in Calls.log]


def test_a_consumer_whose_initialized_raises_retries_without_losing_offsets() -> None:
    class Broken(parafka.Consumer):
        def initialized(self) -> None:
            raise RuntimeError("cannot connect")

        def consume(self, messages: parafka.Messages) -> None:
            pass

    events: list[Event] = []
    c = coordinator(consumer=Broken, events=events)
    assert batch(c.fetched(messages(0, 1))).run() == []
    assert c.committable() == 0
    assert any(e.name == "error.occurred" and e["type"] == "consumer.initialized" for e in events)


def test_after_an_error_the_retry_starts_after_the_last_marked_message() -> None:
    class MarksThenFails(parafka.Consumer):
        calls: ClassVar[list[list[int]]] = []

        def consume(self, messages: parafka.Messages) -> None:
            MarksThenFails.calls.append([m.offset for m in messages])
            if len(MarksThenFails.calls) == 1:
                self.mark_as_consumed(messages[1])  # 0..1 done
                raise RuntimeError("then it fails")

    clock = Clock()
    c = coordinator(consumer=MarksThenFails, manual=True, clock=clock)
    assert batch(c.fetched(messages(0, 4))).run() == []
    assert c.committable() == 2
    clock.now += 1.0
    drive(c, clock, c.due())
    assert MarksThenFails.calls[0] == [0, 1, 2]  # max_messages=3
    assert MarksThenFails.calls[1][0] == 2  # the retry starts after the last mark


# --- real topics: gaps, rewinds, escapes (issue 13) -----------------------------------------------


def gapped(offsets: list[int]) -> list[Any]:
    from .fakes import FakeMessage

    return [FakeMessage(offset) for offset in offsets]


def drain(
    c: Coordinator, jobs: list[Job], clock: Clock | None = None, rounds: int = 100
) -> list[Job]:
    """Run jobs like idle workers would, then what due() gives (moving the clock past every
    back-off), for at most ``rounds`` rounds; the jobs still to run."""
    pending = list(jobs)
    for _ in range(rounds):
        while pending:
            pending.extend(pending.pop(0).run())
        if clock is not None:
            clock.now += 10.0
        pending = c.due()
        if not pending and (clock is None or (c.backlog_size == 0 and c.idle)):
            break
    return pending


def test_gaps_in_a_fetch_and_between_fetches_do_not_hold_the_commit() -> None:
    c = coordinator()
    # 3 is a transaction marker, 6..9 an aborted transaction and its marker.
    drain(c, c.fetched(gapped([0, 1, 2, 4, 5])))
    assert c.committable() == 6
    drain(c, c.fetched(gapped([10, 11])))
    assert c.committable() == 12
    assert c.advance(14)  # the position moved past a trailing marker, no message delivered
    assert c.committable() == 14
    assert [o for name, o in Calls.log if name == "consume"] == [[0, 1, 2], [4, 5], [10, 11]]


def test_a_retry_over_gaps_never_reruns_a_success_nor_reorders() -> None:
    clock = Clock()
    c = coordinator(clock=clock)
    Calls.fail_offsets = {4}
    left = drain(c, c.fetched(gapped([0, 2, 4, 7, 9])), clock, rounds=5)
    consumed = [tuple(o) for name, o in Calls.log if name == "consume"]
    # The batch [0, 2, 4] fails; isolation runs 0, 2 once more each (they ran in the failed
    # batch, not after a success), then 4 alone until it passes (never: it is retried).
    flat = [o for batch in consumed for o in batch]
    assert flat[:3] == [0, 2, 4]
    assert consumed[1:4] == [(0,), (2,), (4,)]
    assert all(batch == (4,) for batch in consumed[3:])  # 4 blocks its partition, in order
    assert c.committable() == 4
    Calls.fail_offsets = set()
    drain(c, left, clock)
    assert c.committable() == 10
    after = [o for name, o in Calls.log if name == "consume"][len(consumed) :]
    assert [o for batch in after for o in batch] == [4, 7, 9]


def test_offsets_going_backwards_give_an_event_and_go_on_from_there() -> None:
    events: list[Event] = []
    c = coordinator(events=events)
    drain(c, c.fetched(messages(0, 9)))
    assert c.committable() == 10
    drain(c, c.fetched(messages(5, 7)))  # an offset reset: 5..7 are fetched again
    rewound = [e for e in events if e.name == "offsets.rewound"]
    assert [(e["offset"], e["end"]) for e in rewound] == [(5, 10)]
    assert c.committable() == 8
    assert [o for name, o in Calls.log if name == "consume"][-1] == [5, 6, 7]


def test_a_rewind_while_a_batch_runs_lets_its_late_success_mark_nothing_above() -> None:
    events: list[Event] = []
    c = coordinator(events=events)
    running = batch(c.fetched(messages(0, 2)))  # in flight: 0..2
    c.fetched(messages(1, 1))  # the partition is fetched again from 1 meanwhile
    assert running.mark_limit == 0
    follow = running.run()  # succeeds: may mark 0 only; 1 (the new delivery) stays pending
    assert c.committable() == 1
    drain(c, follow)
    assert c.committable() == 2


def test_a_dead_letter_job_whose_lane_was_cleared_ends_cleanly() -> None:
    route = Route(
        topic="t",
        consumer=Calls,
        group_id="g",
        subscription_group="default",
        dead_letter_queue=parafka.DeadLetterQueue(topic="dlq", max_retries=0),
    )
    clock = Clock()
    c = Coordinator(
        route,
        0,
        Settings(max_messages=1, pause_timeout=1.0),
        Monitor(),
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock,
    )
    Calls.fail_offsets = {0}
    letter = one(batch(c.fetched(messages(0, 0))).run())  # failed once: the dead letter job
    _point, hooks = c.revoke()  # the lane is cleared before the dead letter job runs
    assert hooks == []  # the lane is busy with the dead letter job
    follow = letter.run()  # nothing to send: it ends and frees the lane
    assert [j for j in follow if isinstance(j, HookJob)]
    assert c.in_flight() != []
    drain(c, follow)
    assert c.idle
    assert ("revoked", 0) in Calls.log


class Exits(parafka.Consumer):
    hook: ClassVar[str] = "revoked"

    def initialized(self) -> None:
        if Exits.hook == "initialized":
            raise SystemExit(3)

    def consume(self, messages: parafka.Messages) -> None:
        pass

    def revoked(self) -> None:
        if Exits.hook == "revoked":
            raise KeyboardInterrupt

    def shutdown(self) -> None:
        if Exits.hook == "shutdown":
            raise SystemExit(4)


@pytest.mark.parametrize("hook", ["initialized", "revoked", "shutdown"])
def test_system_exit_from_a_hook_is_critical_and_frees_the_lane(hook: str) -> None:
    Exits.hook = hook
    critical: list[BaseException] = []
    route = Route(topic="t", consumer=Exits, group_id="g", subscription_group="default")
    c = Coordinator(
        route,
        0,
        Settings(max_messages=3),
        Monitor(),
        notify=lambda _c: None,
        on_critical=critical.append,
        clock=Clock(),
    )
    drain(c, c.fetched(messages(0, 2)))
    if hook == "revoked":
        drain(c, c.revoke()[1])
    elif hook == "shutdown":
        drain(c, c.close())
    assert len(critical) == 1
    assert isinstance(critical[0], (SystemExit, KeyboardInterrupt))
    assert c.idle  # no dead worker slot: the lane is free
    if hook == "initialized":
        assert c.committable() == 0  # nothing processed, nothing skipped


def test_a_consumer_that_cannot_be_created_backs_off_and_never_dead_letters() -> None:
    created = {"n": 0}

    class Flaky(parafka.Consumer):
        def __init__(self) -> None:
            created["n"] += 1
            if created["n"] <= 5:
                raise ConnectionError("database down")

        def consume(self, messages: parafka.Messages) -> None:
            Calls.log.append(("consume", [m.offset for m in messages]))

    events: list[Event] = []
    monitor = Monitor()
    monitor.subscribe("*", events.append)
    route = Route(
        topic="t",
        consumer=Flaky,
        group_id="g",
        subscription_group="default",
        dead_letter_queue=parafka.DeadLetterQueue(topic=None, max_retries=0),
    )
    clock = Clock()
    c = Coordinator(
        route,
        0,
        Settings(max_messages=3, pause_timeout=1.0),
        monitor,
        notify=lambda _c: None,
        on_critical=lambda _e: None,
        clock=clock,
    )
    drain(c, c.fetched(messages(0, 2)), clock)
    assert Calls.log == [("consume", [0, 1, 2])]  # all processed, none skipped
    assert not [e for e in events if e.name == "dead_letter_queue.dispatched"]
    assert len([e for e in events if e.name == "consumer.retry"]) == 5
    assert c.committable() == 3


def test_a_sync_consume_that_returns_an_awaitable_is_a_critical_error_naming_it() -> None:
    class Misdeclared(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> Any:
            async def later() -> None:
                pass

            return later()

    critical: list[BaseException] = []
    route = Route(topic="t", consumer=Misdeclared, group_id="g", subscription_group="default")
    c = Coordinator(
        route,
        0,
        Settings(),
        Monitor(),
        notify=lambda _c: None,
        on_critical=critical.append,
        clock=Clock(),
    )
    assert batch(c.fetched(messages(0, 0))).run() == []
    assert len(critical) == 1
    assert "Misdeclared.consume() returned an awaitable" in str(critical[0])
    assert c.committable() == 0


def test_eofed_runs_after_the_messages_fetched_before_it() -> None:
    class Eof(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            Calls.log.append(("consume", [m.offset for m in messages]))

        def eofed(self) -> None:
            Calls.log.append(("eofed", None))

    c = coordinator(consumer=Eof)
    jobs = c.fetched(messages(0, 1))
    jobs += c.eofed()  # the listener hands over the fetch's batches first, then the EOF
    drain(c, jobs)
    assert Calls.log == [("consume", [0, 1]), ("eofed", None)]
