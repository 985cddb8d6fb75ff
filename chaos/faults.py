"""The fault classes, each a scenario: how the run is set up and its fault loop.

A fault loop runs on the runner's thread until ``run.time_left()`` is short, injecting faults
at seeded random moments and recording each with its start and end (``run.record``). Every
member and broker it signals was started by this run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from chaos.cluster import Member
from chaos.nodes import NodeEvent, SwarmOptions, replacement
from chaos.runner import PARTITIONS, Run, Scenario
from parafka.testing import retry_transient

__all__ = ["SCENARIOS", "by_name"]

_MARGIN = 4.0  # no new fault starts this close to the end of the fault window
#: Bound of the wait for a swarm's supervisor to find a SIGSTOPped node hung (its report
#: timeout is 4 or 9 s) and to replace a node that exited (a hung node's graceful stop, at most the
#: supervisor's kill timeout of 25 s, plus a restart back-off of at most 30 s).
_HUNG_TIMEOUT = 30.0
_REPLACE_TIMEOUT = 90.0


def _pause(run: Run, low: float, high: float) -> None:
    run.wait(run.random.uniform(low, high))


def _pick(run: Run) -> Member | None:
    """A random running member (seeded), or None when none runs."""
    alive = run.alive_members()
    return alive[run.random.randrange(len(alive))] if alive else None


def member_kill(run: Run) -> None:
    """SIGKILL a member under load, restart it after a moment."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        member = _pick(run)
        if member is None:
            continue
        start = time.monotonic_ns()
        member.kill()
        _pause(run, 0.2, 1.5)
        member.start()
        run.record("member SIGKILL", start, time.monotonic_ns())


def member_term(run: Run) -> None:
    """SIGTERM a member under load (graceful: must exit 0), restart it."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        member = _pick(run)
        if member is None:
            continue
        start = time.monotonic_ns()
        run.stop_member(member, expect=0)
        member.start()
        run.record("member SIGTERM", start, time.monotonic_ns())


def churn(run: Run) -> None:
    """Members join and leave repeatedly (extra slots started and stopped gracefully)."""
    extra: list[Member] = []
    while run.time_left() > _MARGIN:
        _pause(run, 1.5, 3.0)
        if len(extra) < 2 and (not extra or run.random.random() < 0.6):
            start = time.monotonic_ns()
            extra.append(run.add_member())
            run.record("member joins", start)
        else:
            member = extra.pop(run.random.randrange(len(extra)))
            start = time.monotonic_ns()
            run.stop_member(member, expect=0)
            run.record("member leaves", start, time.monotonic_ns())
    for member in extra:
        run.stop_member(member, expect=0)


def quiet(run: Run) -> None:
    """No injected process fault: the handler itself misbehaves (exceptions, slowness,
    poison or malformed messages), configured through the scenario's environment."""
    run.wait(run.time_left())


def _broker_restart(run: Run, sig: signal.Signals, name: str) -> None:
    while run.time_left() > _MARGIN:
        _pause(run, 3.0, 5.0)
        start = time.monotonic_ns()
        run.broker.signal(sig)
        if not run.broker.wait_exit(45.0):
            run.problems.append(f"broker still ran 45 s after {sig.name}")
            run.broker.signal(signal.SIGKILL)
            run.broker.wait_exit(15.0)
        _pause(run, 0.5, 2.0)
        run.broker.restart()
        run.record(name, start, time.monotonic_ns())
        run.wait(5.0)  # let the members reconnect before the next fault


def broker_term(run: Run) -> None:
    """Broker SIGTERM (controlled shutdown), restarted on the same port with its data."""
    _broker_restart(run, signal.SIGTERM, "broker SIGTERM")


def broker_kill(run: Run) -> None:
    """Broker SIGKILL, restarted on the same port with its data (log recovery)."""
    _broker_restart(run, signal.SIGKILL, "broker SIGKILL")


def broker_pause(run: Run) -> None:
    """Broker SIGSTOP for longer than the session timeout (6 s), then SIGCONT."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        start = time.monotonic_ns()
        run.broker.signal(signal.SIGSTOP)
        try:
            time.sleep(run.random.uniform(7.0, 9.0))
        finally:
            run.broker.signal(signal.SIGCONT)
        run.record("broker SIGSTOP", start, time.monotonic_ns())
        run.wait(6.0)


def hang_at_shutdown(run: Run) -> None:
    """A handler hangs, then the member gets SIGTERM: it must give up after
    ``shutdown_timeout`` with status 2; the hung message is processed by someone else."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        member = _pick(run)
        if member is None:
            continue
        member.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10.0
        while not member.logged("H") and time.monotonic() < deadline:
            time.sleep(0.1)
        if not member.logged("H"):
            run.problems.append(f"{member.name} did not start hanging within 10 s")
        start = time.monotonic_ns()
        run.stop_member(member, expect=2)
        member.start()
        run.record("hang + SIGTERM", start, time.monotonic_ns())


def churn_during_slow_batch(run: Run) -> None:
    """A member's next message runs slowly (SIGUSR2, ``CHAOS_SLOW_SECONDS``); once it started,
    a member joins and leaves twice in a row: two quick rebalances, each revoking and assigning
    the partitions while that batch still runs."""
    while run.time_left() > _MARGIN:
        _pause(run, 1.0, 2.0)
        member = _pick(run)
        if member is None:
            continue
        before = member.count("W")
        member.signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10.0
        while member.count("W") == before and time.monotonic() < deadline:
            time.sleep(0.1)
        if member.count("W") == before:
            run.problems.append(f"{member.name} did not start a slow run within 10 s")
            continue
        start = time.monotonic_ns()
        for _ in range(2):
            joining = run.add_member()
            run.stop_member(joining, expect=0)  # waits (bounded) for its assignment first
        run.record("2 joins + leaves during a slow batch", start, time.monotonic_ns())


def _move_offsets_back(run: Run) -> None:
    """With the group empty: every committed offset moved back by 20-150 (seeded), through
    the admin API. Half the partitions (seeded) keep the commit metadata written for the old
    offset (as a tool that copies it would): parafka must not trust it at the new offset."""
    bootstrap = run.broker.bootstrap
    moved = []
    for current in _committed(run):
        if current.offset <= 0:
            continue
        target = max(0, current.offset - run.random.randint(20, 150))
        keep = run.random.random() < 0.5
        metadata = current.metadata if keep and current.metadata else ""
        moved.append(TopicPartition(run.topic, current.partition, target, metadata=metadata))
    if not moved:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    request = [ConsumerGroupTopicPartitions(run.group, moved)]

    def alter() -> None:
        result = admin.alter_consumer_group_offsets(request, request_timeout=10.0)
        for partition in result[run.group].result(timeout=15.0).topic_partitions or []:
            if partition.error is not None:
                raise KafkaException(partition.error)

    # A member that just left may still count for a moment: those errors are transient too.
    retry_transient(alter, what=f"moving the offsets of {run.group} back", timeout=30.0)


def _committed(run: Run) -> list[TopicPartition]:
    """The group's committed offsets with their metadata."""
    consumer = Consumer(
        {"bootstrap.servers": run.broker.bootstrap, "group.id": run.group, "log_level": 0}
    )
    partitions = [TopicPartition(run.topic, p) for p in range(PARTITIONS)]
    try:
        return retry_transient(
            lambda: consumer.committed(partitions, timeout=10.0),
            what=f"offsets of {run.group}",
            timeout=30.0,
        )
    finally:
        consumer.close()


def _pick_node(run: Run) -> tuple[Member, int, int] | None:
    """A random running node (seeded) of a random swarm member: (member, index, pid)."""
    member = _pick(run)
    if member is None:
        return None
    nodes = member.nodes()
    if not nodes:
        return None
    index = sorted(nodes)[run.random.randrange(len(nodes))]
    return member, index, nodes[index]


def _first(name: str, pid: int) -> Callable[[list[NodeEvent]], NodeEvent | None]:
    """Finds the first event ``name`` of process ``pid``."""
    return lambda events: next((e for e in events if e.name == name and e.pid == pid), None)


def _await_event(
    run: Run, member: Member, timeout: float, found: Callable[[list[NodeEvent]], NodeEvent | None]
) -> NodeEvent | None:
    """Poll ``member``'s node events (checking the members meanwhile, not bounded by the
    fault window) until ``found`` returns one; None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        event = found(member.node_events())
        if event is not None or time.monotonic() > deadline or not member.alive:
            return event
        run.watch()
        time.sleep(0.2)


def _await_replacement(run: Run, member: Member, index: int, pid: int, what: str) -> bool:
    """Wait until the supervisor replaced node ``index`` (process ``pid``); a problem if not."""
    if _await_event(run, member, _REPLACE_TIMEOUT, lambda e: replacement(e, index, pid)):
        return True
    run.problems.append(
        f"{member.name} node {index} (pid {pid}) was not replaced within "
        f"{_REPLACE_TIMEOUT:.0f} s after {what}"
    )
    return False


def node_kill(run: Run) -> None:
    """SIGKILL a random node of a swarm member; its supervisor must replace it. The fault ends
    when the replacement is seen (``node.restarted`` in the supervisor's output)."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        picked = _pick_node(run)
        if picked is None:
            continue
        member, index, pid = picked
        start = time.monotonic_ns()
        if not member.signal_node(pid, signal.SIGKILL):
            continue
        if _await_replacement(run, member, index, pid, "SIGKILL"):
            run.record("node SIGKILL (replaced)", start, time.monotonic_ns())


def node_hang(run: Run) -> None:
    """SIGSTOP a random node of a swarm member: it stops reporting; its supervisor must find it
    hung (``node.hung``), SIGTERM + SIGCONT it, and replace it. The node, continued, must stop
    gracefully (exit 0), not need the supervisor's SIGKILL. The fault ends when the replacement
    is seen."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        picked = _pick_node(run)
        if picked is None:
            continue
        member, index, pid = picked
        pidfd = member.open_node(pid)
        if pidfd is None:
            continue
        start = time.monotonic_ns()
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
            if _await_event(run, member, _HUNG_TIMEOUT, _first("node.hung", pid)) is None:
                run.problems.append(
                    f"{member.name} node {index} (pid {pid}) SIGSTOPped, not found hung within "
                    f"{_HUNG_TIMEOUT:.0f} s"
                )
                continue
            if not _await_replacement(run, member, index, pid, "SIGSTOP"):
                continue
            run.record("node SIGSTOP (hung, replaced)", start, time.monotonic_ns())
        except ProcessLookupError:
            continue  # exited before the SIGSTOP
        finally:
            # The fault is bounded whatever happened: never a node left stopped (when the
            # supervisor did its part, the process is gone and this does nothing).
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGCONT)
            os.close(pidfd)
        exited = _first("node.exited", pid)(member.node_events())
        status = exited.fields.get("status") if exited else None
        if status != "0":
            run.problems.append(
                f"{member.name} node {index} (pid {pid}), hung and continued, did not stop "
                f"gracefully: status {status}"
            )


def offset_reset(run: Run) -> None:
    """Stop every member (the group must be empty), move the group's committed offsets back
    through the admin API, start the members again: a replay, never a skip."""
    while run.time_left() > _MARGIN:
        _pause(run, 2.0, 4.0)
        start = time.monotonic_ns()
        running = run.alive_members()
        for member in running:
            run.stop_member(member, expect=0)
        _move_offsets_back(run)
        for member in running:
            member.start()
        run.record("offset reset (admin API)", start, time.monotonic_ns())
        run.wait(4.0)


def _scenarios() -> list[Scenario]:
    small_backlog = {"CHAOS_MAX_BACKLOG": "40"}
    slow = {"CHAOS_SLOW_P": "0.002", "CHAOS_SLOW_SECONDS": "8", "CHAOS_MAX_POLL_MS": "6000"}
    return [
        Scenario("member-kill", "SIGKILL + restart of a member", member_kill),
        Scenario(
            "member-kill-vp",
            "SIGKILL + restart of a member (lanes, small backlog)",
            member_kill,
            vp=4,
            env=small_backlog,
        ),
        Scenario(
            "member-kill-async",
            "SIGKILL + restart of a member (async def consume)",
            member_kill,
            vp=4,
            env={"CHAOS_ASYNC": "1"},
        ),
        Scenario("member-term", "SIGTERM of a member under load", member_term, vp=4),
        Scenario("churn-eager", "members join and leave (eager)", churn, members=1),
        Scenario(
            "churn-cooperative",
            "members join and leave (cooperative-sticky)",
            churn,
            protocol="cooperative",
            members=1,
            vp=4,
            env=small_backlog,
        ),
        Scenario(
            "churn-kip848",
            "members join and leave (KIP-848)",
            churn,
            protocol="consumer",
            members=1,
        ),
        Scenario("slow-handler", "handler slower than max.poll.interval.ms", quiet, env=slow),
        # Not in CI: about one broker SIGTERM in 20 leaves a member stuck out of its group for
        # good (librdkafka#5511, see docs/chaos.md): CI would be flaky.
        Scenario(
            "broker-term",
            "broker SIGTERM + restart",
            broker_term,
            vp=4,
            broker_faults=True,
            ci=False,
        ),
        Scenario("broker-kill", "broker SIGKILL + restart", broker_kill, broker_faults=True),
        Scenario(
            "broker-pause", "broker SIGSTOP > session timeout", broker_pause, broker_faults=True
        ),
        Scenario(
            "exceptions",
            "random exceptions (p=0.05)",
            quiet,
            env={"CHAOS_EXCEPTION_P": "0.05"},
            vp=4,
        ),
        Scenario("poison", "poison messages with a DLQ", quiet, poison_rate=0.01),
        Scenario("malformed", "malformed payloads with a DLQ", quiet, malformed_rate=0.01, vp=4),
        # On demand only (make chaos): the same faults under the other group protocols.
        Scenario(
            "member-kill-kip848",
            "SIGKILL + restart of a member (KIP-848)",
            member_kill,
            protocol="consumer",
            vp=4,
            ci=False,
        ),
        Scenario(
            "broker-kill-cooperative",
            "broker SIGKILL + restart (cooperative-sticky)",
            broker_kill,
            protocol="cooperative",
            vp=4,
            broker_faults=True,
            ci=False,
        ),
        Scenario(
            "broker-pause-kip848",
            "broker SIGSTOP > session timeout (KIP-848)",
            broker_pause,
            protocol="consumer",
            broker_faults=True,
            ci=False,
        ),
        Scenario(
            "hang-shutdown",
            "hanging handler at shutdown",
            hang_at_shutdown,
            env={"CHAOS_SHUTDOWN_TIMEOUT": "3"},
        ),
        # Topics and group behaviour of production (issue 13): offsets with gaps, churn during
        # a slow batch, offsets moved by an operator, pause/seek storms across lanes.
        Scenario(
            "transactional",
            "transactional producer, 25 % aborted, read_committed + member SIGKILL",
            member_kill,
            feed="transactional",
            abort_rate=0.25,
            env={"CHAOS_ISOLATION": "read_committed"},
        ),
        Scenario(
            "transactional-vp",
            "transactional producer, 25 % aborted, read_committed (lanes) + member SIGKILL",
            member_kill,
            feed="transactional",
            abort_rate=0.25,
            vp=4,
            env={"CHAOS_ISOLATION": "read_committed"},
            ci=False,
        ),
        Scenario(
            "compacted",
            "compacted topic with deletes (gaps) + member SIGKILL",
            member_kill,
            feed="compacted",
            env={"CHAOS_DELAY_MS": "25"},
        ),
        Scenario(
            "churn-slow-batch",
            "2 joins + leaves (eager) while a slow batch runs",
            churn_during_slow_batch,
            members=1,
            env={"CHAOS_SLOW_SECONDS": "5"},
        ),
        Scenario(
            "offset-reset",
            "group offsets moved back (admin API, stale metadata on some)",
            offset_reset,
        ),
        # Swarm members (issue 17): one member, `parafka swarm` with 3 nodes; its supervisor must
        # replace a node killed or hung (chaos.nodes).
        Scenario(
            "node-kill",
            "SIGKILL of a swarm node (the supervisor replaces it)",
            node_kill,
            members=1,
            swarm=SwarmOptions(),
            node_effects=("node.killed", "node.restarted"),
        ),
        Scenario(
            "node-hang",
            "SIGSTOP of a swarm node (found hung, SIGTERM + SIGCONT, replaced; lanes)",
            node_hang,
            members=1,
            vp=4,
            swarm=SwarmOptions(),
            node_effects=("node.hung", "node.hung_exited", "node.restarted"),
        ),
        # On demand: a report timeout (9 s) past the session timeout (6 s), so the frozen node
        # is out of the group before the supervisor continues it: a zombie that wakes up with
        # a batch in hand and partitions that are someone else's.
        Scenario(
            "node-hang-evicted",
            "SIGSTOP of a swarm node past the session timeout (evicted, then replaced)",
            node_hang,
            members=1,
            swarm=SwarmOptions(report_timeout=9.0),
            node_effects=("node.hung", "node.hung_exited", "node.restarted"),
            ci=False,
        ),
        Scenario(
            "vp-pause-seek",
            "pause/seek storms from lanes, some lanes slow",
            quiet,
            vp=4,
            env={
                "CHAOS_PAUSE_P": "0.01",
                "CHAOS_SEEK_P": "0.005",
                "CHAOS_PAUSE_SECONDS": "0.5",
                # Slow lanes hold queued messages while a fast lane pauses or seeks.
                "CHAOS_SLOW_P": "0.01",
                "CHAOS_SLOW_SECONDS": "1",
            },
        ),
        # The memory budget (issue 15) under rebalance churn: 20 KB messages, a slow handler
        # and one member most of the time, so the budget fills; partitions paused for it are
        # revoked, reassigned and resumed while members come and go.
        Scenario(
            "budget-churn",
            "members join and leave, a 16 MiB max_buffered_bytes filled (lanes, cooperative)",
            churn,
            protocol="cooperative",
            members=1,
            vp=4,
            padding=20_000,
            env={"CHAOS_MAX_BUFFERED_BYTES": str(16 * 1024 * 1024), "CHAOS_DELAY_MS": "40"},
        ),
    ]


SCENARIOS: list[Scenario] = _scenarios()


def by_name(names: str) -> list[Scenario]:
    """Scenarios from a comma-separated list (``all``: every one); unknown names raise."""
    if names.strip() == "all":
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    chosen = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in known:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(known)}")
        chosen.append(known[name])
    return chosen


Inject = Callable[[Run], None]
