"""One chaos run: a topic, the members, the producer, a fault loop, the drain, the check.

Threads: :func:`run_scenario` runs on the caller's thread (it drives the faults); the producer
has its own thread (``chaos.ledger``), the members are processes (``chaos.cluster``).

A run: create the topic (and a dead letter topic when the scenario needs one), prepare the feed
(``Scenario.feed``: ``steady`` and ``transactional`` produce during the faults,
``chaos.ledger``; ``compacted`` writes and compacts a backlog first, ``chaos.backlog``), start
the members and the producer; for ``duration`` seconds the scenario's fault loop injects faults and
records each (:class:`~chaos.checker.Fault`); stop the producer (every message acknowledged or
failed), bring every member slot back, wait (bounded) until the group's committed offsets reach
the end offsets, stop the members with SIGTERM (each must exit 0), then read the committed and
end offsets and check the ledger and logs. A member may be a swarm (``Scenario.swarm``,
``chaos.nodes``): then its supervisors' node events are checked too (no node exits that the
harness did not cause; the scenario's ``node_effects`` happened once per fault).

An exception of the harness itself in any phase (setup, faults, drain, stop, check) does not
escape: it is recorded in :attr:`RunResult.harness_errors` with its phase (the traceback in the
run's ``harness-error.txt``), the members are still stopped, and the run counts as failed — the
other runs of the session keep their verdicts.
"""

from __future__ import annotations

import random
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from chaos.backlog import TOPIC_CONFIG, CompactedBacklog
from chaos.checker import Fault, Report, check
from chaos.cluster import Broker, Member
from chaos.ledger import LedgerProducer
from chaos.nodes import (
    NodeCount,
    SwarmOptions,
    count_events,
    parse_node_events,
    unexpected_exits,
)
from chaos.records import parse_ledger, parse_log
from parafka.testing import committed_offsets, create_topic, end_offsets

__all__ = ["Run", "RunResult", "Scenario", "run_scenario"]

PARTITIONS = 6
_DRAIN_TIMEOUT = 120.0
_STOP_TIMEOUT = 30.0
#: Bound of one read of end or committed offsets (transient broker errors retried meanwhile).
_OFFSETS_TIMEOUT = 60.0


Feed = Literal["steady", "transactional", "compacted"]


class FeedSource(Protocol):
    """What writes the topic and the ledger (runner's thread; ``start`` may start a thread)."""

    failed: list[str]

    def prepare(self) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...
    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Scenario:
    """A fault class and how the run is set up for it; ``inject`` is the fault loop."""

    name: str
    fault: str
    inject: Callable[[Run], None]
    protocol: str = "eager"
    vp: int = 0
    members: int = 2
    env: Mapping[str, str] = field(default_factory=dict)
    poison_rate: float = 0.0
    malformed_rate: float = 0.0
    rate: float = 200.0
    #: ``steady``: an idempotent producer during the faults; ``transactional``: a transactional
    #: one, ``abort_rate`` of its transactions aborted; ``compacted``: a compacted backlog with
    #: deletes, written before the members start.
    feed: Feed = "steady"
    abort_rate: float = 0.0
    #: Characters of filler in each steady or transactional message (large messages).
    padding: int = 0
    #: The fault loop signals the broker: the run needs a broker of its own.
    broker_faults: bool = False
    #: Part of the CI run (tests/integration/test_chaos.py); the others only run on demand.
    ci: bool = True
    #: Each member is ``parafka swarm`` with these options instead of ``parafka server``.
    swarm: SwarmOptions | None = None
    #: Supervisor events each fault must cause (at least one per recorded fault, and at least
    #: one in all): proof that the fault had its effect, e.g. ``node.restarted``.
    node_effects: tuple[NodeCount, ...] = ()

    @property
    def dead_letters(self) -> bool:
        return self.poison_rate > 0 or self.malformed_rate > 0


@dataclass
class RunResult:
    scenario: str
    fault: str
    seed: int
    protocol: str
    vp: int
    seconds: float
    report: Report
    faults: list[Fault]
    problems: list[str]
    producer: dict[str, Any]
    rss: list[tuple[float, str, int]]
    #: Exceptions of the harness itself, ``"<phase>: <type>: <message>"``: the run failed.
    harness_errors: list[str] = field(default_factory=list)
    #: Swarm members: the supervisors' node events by name (``chaos.nodes.count_events``).
    nodes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems and not self.harness_errors

    @classmethod
    def crashed(cls, scenario: Scenario, seed: int, seconds: float, error: str) -> RunResult:
        """A run that ended before it had anything to check (only ``error`` to show)."""
        return cls(
            scenario=scenario.name,
            fault=scenario.fault,
            seed=seed,
            protocol=scenario.protocol,
            vp=scenario.vp,
            seconds=seconds,
            report=Report(),
            faults=[],
            problems=[],
            producer={},
            rss=[],
            harness_errors=[error],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "fault": self.fault,
            "seed": self.seed,
            "protocol": self.protocol,
            "vp": self.vp,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
            "report": self.report.to_dict(),
            "faults": [{"name": f.name, "start_ns": f.start, "end_ns": f.end} for f in self.faults],
            "problems": self.problems,
            "harness_errors": self.harness_errors,
            "nodes": self.nodes,
            "producer": self.producer,
            "rss": self.rss,
        }


class Run:
    """What a fault loop works with: the broker, the members, a seeded random, the clock."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        broker: Broker,
        directory: Path,
        duration: float,
        sample_every: float,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.random = random.Random(f"{seed}:{scenario.name}")
        self.broker = broker
        self.directory = directory
        self.topic = f"chaos-{scenario.name}-{seed}-{uuid.uuid4().hex[:6]}"
        self.group = f"{self.topic}-group"
        self.dlq = f"{self.topic}-dlq" if scenario.dead_letters else ""
        self.members: list[Member] = []
        self.faults: list[Fault] = []
        self.problems: list[str] = []
        self.harness_errors: list[str] = []
        #: What the runner is doing (named in harness errors).
        self.phase = "setup"
        self.rss: list[tuple[float, str, int]] = []
        self.started = time.monotonic()
        self.deadline = self.started + duration
        self._sample_every = sample_every
        self._next_sample = 0.0

    # -- for fault loops ----------------------------------------------------------------------

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (at most until the deadline), checking the members meanwhile."""
        end = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < end:
            self.watch()
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def watch(self) -> None:
        """Notice members that died on their own (a problem) and sample memory."""
        for member in self.members:
            if member.process is not None and member.process.poll() is not None:
                code = member.wait(0)
                self.problems.append(f"{member.name} exited on its own with status {code}")
                member.start()
        now = time.monotonic()
        if now >= self._next_sample:
            self._next_sample = now + self._sample_every
            for member in self.members:
                rss = member.rss()
                if rss is not None:
                    self.rss.append((round(now - self.started, 1), member.name, rss))

    def record(self, name: str, start: int, end: int | None = None) -> None:
        self.faults.append(Fault(name, start, start if end is None else end))

    def add_member(self) -> Member:
        member = Member(
            len(self.members), self.directory, self.member_env(), swarm=self.scenario.swarm
        )
        self.members.append(member)
        member.start()
        return member

    def member_env(self) -> dict[str, str]:
        scenario = self.scenario
        return {
            "CHAOS_BOOTSTRAP": self.broker.bootstrap,
            "CHAOS_TOPIC": self.topic,
            "CHAOS_GROUP": self.group,
            "CHAOS_DLQ": self.dlq,
            "CHAOS_SEED": str(self.seed),
            "CHAOS_VP": str(scenario.vp),
            "CHAOS_PROTOCOL": scenario.protocol,
            **scenario.env,
        }

    def stop_member(self, member: Member, expect: int = 0, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM ``member`` and wait; a status other than ``expect`` is a problem.

        A member is first given time to join (its first rebalance line): a SIGTERM during the
        interpreter's start-up, before ``parafka server`` installs its handlers, kills it."""
        if not member.joined(timeout):
            self.problems.append(f"{member.name} did not join the group within {timeout:.0f} s")
        code = member.stop(timeout)
        if code is None:
            self.problems.append(f"{member.name} did not stop within {timeout:.0f} s (killed)")
        elif code != expect:
            self.problems.append(f"{member.name} stopped with status {code}, expected {expect}")

    def alive_members(self) -> list[Member]:
        return [m for m in self.members if m.alive]

    # -- for the runner -----------------------------------------------------------------------

    def harness_error(self, exc: Exception) -> None:
        """Record an exception of the harness in the current phase (traceback to a file)."""
        self.harness_errors.append(f"{self.phase}: {type(exc).__name__}: {exc}")
        with (self.directory / "harness-error.txt").open("a") as out:
            out.write(f"--- {self.phase}\n")
            out.write("".join(traceback.format_exception(exc)))


def run_scenario(
    scenario: Scenario,
    seed: int,
    broker: Broker,
    directory: Path,
    duration: float,
    sample_every: float = 5.0,
    on_progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``scenario`` on ``broker`` for ``duration`` seconds of faults; check it.

    Never raises for a failure of the harness (see the module docstring)."""
    say = on_progress or (lambda _text: None)
    directory.mkdir(parents=True, exist_ok=True)
    run = Run(scenario, seed, broker, directory, duration, sample_every)
    ledger_path = directory / "ledger.txt"
    producer: FeedSource | None = None
    began = time.monotonic()
    try:
        config = TOPIC_CONFIG if scenario.feed == "compacted" else None
        create_topic(broker.bootstrap, run.topic, PARTITIONS, config=config)
        if run.dlq:
            create_topic(broker.bootstrap, run.dlq, 1)
        producer = _feed(run, ledger_path)
        producer.prepare()
        for _ in range(scenario.members):
            run.add_member()
        producer.start()
        run.phase = "faults"
        run.deadline = time.monotonic() + duration
        say(f"{scenario.name}: faults for {duration:.0f} s")
        try:
            scenario.inject(run)
            run.wait(run.time_left())
        except Exception as exc:  # the run still drains: its check then means something
            run.harness_error(exc)
        run.phase = "drain"
        say(f"{scenario.name}: draining")
        producer.stop()
        if producer.failed:
            run.problems.append(f"producer: {producer.failed[:3]}")
        _drain(run)
    except Exception as exc:
        run.harness_error(exc)
    finally:
        run.phase = "stop"
        try:
            if producer is not None:
                producer.stop(10.0)  # no-op when already stopped
        except Exception as exc:
            run.harness_error(exc)
        for member in run.members:
            if member.alive:
                try:
                    run.stop_member(member)
                except Exception as exc:
                    run.harness_error(exc)
                    member.kill()
    run.phase = "check"
    report = Report()
    nodes: dict[str, int] = {}
    try:
        report = _check(run, ledger_path)
        if scenario.swarm is not None:
            nodes = _check_nodes(run)
        if "CHAOS_MAX_BUFFERED_BYTES" in scenario.env:
            _check_budget(run)
    except Exception as exc:
        run.harness_error(exc)
    return RunResult(
        scenario=scenario.name,
        fault=scenario.fault,
        seed=seed,
        protocol=scenario.protocol,
        vp=scenario.vp,
        seconds=time.monotonic() - began,
        report=report,
        faults=run.faults,
        problems=run.problems,
        producer=producer.describe() if producer is not None else {},
        rss=run.rss,
        harness_errors=run.harness_errors,
        nodes=nodes,
    )


def _feed(run: Run, ledger_path: Path) -> FeedSource:
    scenario, bootstrap = run.scenario, run.broker.bootstrap
    if scenario.feed == "compacted":
        return CompactedBacklog(
            bootstrap, run.topic, ledger_path, seed=run.seed, partitions=PARTITIONS
        )
    return LedgerProducer(
        bootstrap,
        run.topic,
        ledger_path,
        seed=run.seed,
        rate=scenario.rate,
        poison_rate=scenario.poison_rate,
        malformed_rate=scenario.malformed_rate,
        transactional_id=f"{run.topic}-tx" if scenario.feed == "transactional" else None,
        abort_rate=scenario.abort_rate,
        padding=scenario.padding,
    )


def _check(run: Run, ledger_path: Path) -> Report:
    bootstrap = run.broker.bootstrap
    ends = end_offsets(bootstrap, run.topic, timeout=_OFFSETS_TIMEOUT)
    final = committed_offsets(bootstrap, run.group, run.topic, PARTITIONS, timeout=_OFFSETS_TIMEOUT)
    ledger, _torn = parse_ledger(ledger_path.read_text() if ledger_path.exists() else "")
    logs = [parse_log(p.stem, p.read_text()) for p in sorted(run.directory.glob("member-*.log"))]
    return check(
        ledger,
        logs,
        end_offsets=ends,
        committed={p: (o if o >= 0 else None) for p, o in final.items()},
        faults=run.faults,
        per_key=run.scenario.vp > 0,
    )


def _check_nodes(run: Run) -> dict[str, int]:
    """The node events of every swarm member's incarnation, counted; a node exit the harness
    did not cause, or a fault class short of its ``node_effects``, is a problem."""
    signalled = set().union(*(m.signalled for m in run.members))
    counts: dict[str, int] = {}
    for path in sorted(run.directory.glob("member-*.out")):
        events = parse_node_events(path.read_text(errors="replace"))
        for name, count in count_events(events).items():
            counts[name] = counts.get(name, 0) + count
        for event in unexpected_exits(events, signalled):
            fields = " ".join(f"{k}={v}" for k, v in event.fields.items())
            run.problems.append(f"{path.stem}: a node exited on its own: {fields}")
    wanted = max(1, len(run.faults))
    for name in run.scenario.node_effects:
        if counts.get(name, 0) < wanted:
            run.problems.append(
                f"{counts.get(name, 0)} {name} event(s) for {len(run.faults)} fault(s): "
                "the fault did not have its effect"
            )
    return counts


#: Bytes a chaos message costs beyond its filler, as the budget counts it: the key, the JSON
#: around the filler (under 40 bytes) and parafka's per-message overhead (300).
_MESSAGE_COST = 350
#: The budget counts as reached when some member held this share of it (its ``over()`` is at
#: 100 %; sampling every 10 ms can miss the very top).
_REACHED = 0.9


def budget_peaks(text: str) -> list[tuple[int, int]]:
    """``(peak, available)`` of each ``chaos-budget`` line a member printed (``chaos.app``)."""
    return [
        (int(m.group(1)), int(m.group(2)))
        for m in re.finditer(r"^chaos-budget peak=(\d+) available=(\d+)$", text, re.MULTILINE)
    ]


def budget_problems(peaks: dict[str, list[tuple[int, int]]], message_bytes: int) -> list[str]:
    """The budget's bound, per member: what it held stayed within what parafka's buffers may
    hold plus one message per partition (a partition that holds none may always fetch, see
    ``parafka.connection.flow``); and some member reached the budget (else the run did not
    test it)."""
    problems = []
    reached = False
    for member, lines in sorted(peaks.items()):
        for peak, available in lines:
            bound = available + PARTITIONS * message_bytes
            if peak > bound:
                problems.append(
                    f"{member} held {peak:,} bytes, over the budget's bound {bound:,} "
                    f"({available:,} available + {PARTITIONS} messages of {message_bytes:,})"
                )
                break
        reached = reached or any(peak >= _REACHED * available > 0 for peak, available in lines)
    if not reached:
        highest = max((p for lines in peaks.values() for p, _ in lines), default=0)
        problems.append(
            f"the budget was never reached (highest {highest:,} bytes held): the run did not "
            "test it"
        )
    return problems


def _check_budget(run: Run) -> None:
    peaks = {
        path.stem: budget_peaks(path.read_text(errors="replace"))
        for path in sorted(run.directory.glob("member-*.out"))
    }
    message_bytes = run.scenario.padding + _MESSAGE_COST
    run.problems.extend(budget_problems(peaks, message_bytes))


def _drain(run: Run) -> None:
    """Every slot running again, then wait until the committed offsets reach the end."""
    for member in run.members:
        if not member.alive and member.slot < run.scenario.members:
            member.start()
    deadline = time.monotonic() + _DRAIN_TIMEOUT
    bootstrap = run.broker.bootstrap
    ends = end_offsets(bootstrap, run.topic, timeout=_OFFSETS_TIMEOUT)
    done: dict[int, int] = {}
    while time.monotonic() < deadline:
        run.watch()
        left = max(1.0, deadline - time.monotonic())
        done = committed_offsets(
            bootstrap, run.group, run.topic, PARTITIONS, timeout=min(left, _OFFSETS_TIMEOUT)
        )
        if all(done.get(p, -1) >= end for p, end in ends.items()):
            return
        time.sleep(0.5)
    behind = {p: (done.get(p), end) for p, end in ends.items() if done.get(p, -1) < end}
    run.problems.append(
        f"not drained within {_DRAIN_TIMEOUT:.0f} s (partition: (committed, end)) {behind}"
    )
