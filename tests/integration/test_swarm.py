"""``parafka swarm`` against the real broker: nodes share the partitions; a node killed
(SIGKILL) or hung (SIGSTOP) is replaced and nothing is lost; SIGTERM ends cleanly with the
offsets committed to the end; static members keep their ids per node index.

The app is ``tests.integration.apps.recording`` (one ``P <partition> <offset> <pid>`` line per
processed message, shared by the nodes; ``V`` lines for an offset stored ahead of unfinished
work).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from parafka.testing import end_offsets, produce_messages

from .helpers import ROOT, committed, read_record, recording_env, wait_until, write_transactions

pytestmark = pytest.mark.integration

PARTITIONS = 4
PER_PARTITION = 300


@dataclass(frozen=True)
class Case:
    """One test's topic (:data:`PARTITIONS` partitions) and group, and its files: ``out``, the
    recording app's lines (shared by the nodes), and ``console``, the supervisor's and the
    nodes' output."""

    bootstrap: str
    topic: str
    group: str
    out: Path
    console: Path

    def env(self, **settings: str) -> dict[str, str]:
        """The recording app's environment for this case (``settings`` as for
        :func:`recording_env`)."""
        return recording_env(self.bootstrap, self.topic, self.group, out=str(self.out), **settings)

    def swarm(
        self, env: dict[str, str], *options: str
    ) -> AbstractContextManager[subprocess.Popen[bytes]]:
        return swarming(env, self.console, *options)

    def assert_committed_to_the_end(self) -> None:
        assert committed(self.bootstrap, self.group, self.topic, PARTITIONS) == dict.fromkeys(
            range(PARTITIONS), PER_PARTITION
        )


@pytest.fixture
def case(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Case:
    return Case(
        kafka_bootstrap,
        new_topic(partitions=PARTITIONS),
        unique_name("g"),
        tmp_path / "out.log",
        tmp_path / "console.log",
    )


@contextmanager
def swarming(
    env: dict[str, str], console: Path, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``parafka swarm tests.integration.apps.recording:app`` for the block (killed, with its
    nodes, if it still runs at the end)."""
    with console.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parafka.cli",
                "swarm",
                "tests.integration.apps.recording:app",
                "--node-report-interval",
                "0.5",
                *options,
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            for pid in node_pids(console).values():
                _kill(pid)
            process.kill()
            process.wait(10)


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _ended(pid: int) -> bool:
    """The process is gone, or a zombie (its new parent may not reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def node_pids(console: Path) -> dict[int, int]:
    """Node index -> pid of its latest process, from the supervisor's ``node.started`` lines."""
    pids: dict[int, int] = {}
    for match in re.finditer(r"node\.started index=(\d+) pid=(\d+)", console.read_text()):
        pids[int(match[1])] = int(match[2])
    return pids


def processed(out: Path) -> dict[int, list[tuple[int, int]]]:
    """Partition -> [(offset, pid)] in the order recorded."""
    seen: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for fields in read_record(out):
        if fields[0] == "P":
            seen[int(fields[1])].append((int(fields[2]), int(fields[3])))
    return seen


def all_processed(out: Path) -> bool:
    seen = processed(out)
    return all(
        {offset for offset, _pid in seen.get(p, [])} == set(range(PER_PARTITION))
        for p in range(PARTITIONS)
    )


def assert_in_order_per_process(out: Path) -> None:
    """Each process handled each partition's offsets in increasing order (a replacement may
    redo what its predecessor did not commit: at least once, never backwards in one run)."""
    for partition, records in processed(out).items():
        by_pid: dict[int, list[int]] = defaultdict(list)
        for offset, pid in records:
            by_pid[pid].append(offset)
        for pid, offsets in by_pid.items():
            runs = _assignment_runs(offsets)
            for run in runs:
                assert run == sorted(run), (partition, pid, run[:20])


def _assignment_runs(offsets: list[int]) -> list[list[int]]:
    """Split at a step back: a rebalance can hand a process the partition again from the
    committed offset (replay), which starts a new increasing run."""
    runs: list[list[int]] = [[]]
    for offset in offsets:
        if runs[-1] and offset <= runs[-1][-1]:
            runs.append([])
        runs[-1].append(offset)
    return runs


def no_violations(out: Path, visible: dict[int, set[int]] | None = None) -> None:
    """No offset stored or committed past a message this process had not processed. On a
    topic with gaps (``visible``: the offsets that hold messages), an offset missing from what
    a process processed counts only if a message stands there: markers and aborted records
    are never delivered."""
    violations = [
        f
        for f in read_record(out)
        if f[0] == "V"
        and (visible is None or any(int(o) in visible[int(f[1])] for o in f[4].split(",") if o))
    ]
    assert not violations, violations[:5]


def _produce(case: Case) -> None:
    produce_messages(
        case.bootstrap,
        case.topic,
        ((None, b"m", i % PARTITIONS) for i in range(PARTITIONS * PER_PARTITION)),
    )


def _fault_node_zero_mid_stream(case: Case, fault: int) -> int:
    """Send ``fault`` to node 0 once it has processed something; wait for its replacement.
    Returns the pid it had."""
    victim = node_pids(case.console)[0]
    wait_until(
        lambda: any(pid == victim for r in processed(case.out).values() for _o, pid in r),
        60,
        "node 0 to process something",
    )
    os.kill(victim, fault)
    wait_until(lambda: node_pids(case.console)[0] != victim, 60, "node 0 to be replaced")
    return victim


def _stop(process: subprocess.Popen[bytes], console: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(90)
    assert code == 0, console.read_text()[-4000:]


def test_nodes_share_the_partitions_and_sigterm_commits_to_the_end(
    case: Case, unique_name: Callable[[str], str]
) -> None:
    instance = unique_name("member")
    out, console = case.out, case.console
    with case.swarm(case.env(delay_ms="2", instance_id=instance), "--nodes", "2") as process:
        # The group settles with both nodes as static members, two partitions each ...
        _wait_for_two_members(case)
        assert sorted(_members(case)) == [f"{instance}-0", f"{instance}-1"]
        # ... and both take work.
        _produce(case)
        wait_until(lambda: all_processed(out), 120, "every message processed")
        pids = {pid for records in processed(out).values() for _o, pid in records}
        assert pids == set(node_pids(console).values())
        # SIGTTIN: every node logs its diagnostics; SIGTSTP: every node goes quiet.
        process.send_signal(signal.SIGTTIN)
        process.send_signal(signal.SIGTSTP)
        wait_until(
            lambda: (
                console.read_text().count("parafka diagnostics:") == 2
                and console.read_text().count("listener.quieted") == 2
            ),
            30,
            "both nodes' diagnostics and quiet mode",
        )
        _stop(process, console)
    text = console.read_text()
    assert text.count("node.exited") == 2
    assert "stopping=True" in text
    assert "node.restarted" not in text
    case.assert_committed_to_the_end()
    assert_in_order_per_process(out)
    no_violations(out)


def _assignments(out: Path) -> list[list[str]]:
    """The recording app's ``A <pid> [partitions]`` lines, in order."""
    return [f for f in read_record(out) if f[0] == "A"]


def _last_assignment(out: Path, pid: int) -> int | None:
    """How many partitions ``pid`` was last assigned (None: none yet)."""
    mine = [f for f in _assignments(out) if f[1] == str(pid)]
    return (
        None
        if not mine
        else len([p for p in " ".join(mine[-1][2:]).strip("[]").split(",") if p.strip()])
    )


def _wait_for_two_members(case: Case) -> None:
    wait_until(
        lambda: sorted(len(p) for p in _members(case).values()) == [2, 2],
        60,
        "both nodes to join the group with two partitions each",
    )


def _members(case: Case) -> dict[str, list[int]]:
    """Each member's ``group.instance.id`` (or member id) -> its assigned partitions, as the
    broker describes the group."""
    admin = AdminClient({"bootstrap.servers": case.bootstrap})
    described = admin.describe_consumer_groups([case.group])[case.group].result(timeout=15)
    return {
        str(member.group_instance_id or member.member_id): [
            tp.partition for tp in member.assignment.topic_partitions
        ]
        for member in described.members
    }


@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSTOP"])
def test_a_killed_or_hung_node_is_replaced_and_nothing_is_lost(case: Case, fault: str) -> None:
    out, console = case.out, case.console
    env = case.env(
        delay_ms="10",  # about 6 s of work per node: the fault lands mid-stream
        max_messages="5",
        shutdown_timeout="10",
        session_timeout_ms="6000",
    )
    with case.swarm(env, "--nodes", "2", "--node-report-timeout", "3") as process:
        _wait_for_two_members(case)
        _produce(case)
        victim = _fault_node_zero_mid_stream(case, getattr(signal, fault))
        if fault == "SIGSTOP":
            assert re.search(
                rf"node\.hung index=0 pid={victim} .*reason=no report", console.read_text()
            )
        wait_until(lambda: all_processed(out), 120, "every message processed")
        _stop(process, console)
    text = console.read_text()
    exited = re.search(rf"node\.exited index=0 pid={victim} status=(-?\d+)", text)
    assert exited is not None, text[-4000:]
    # SIGKILL: killed; SIGSTOP: the supervisor's SIGTERM + SIGCONT let it stop gracefully.
    assert int(exited[1]) == (-signal.SIGKILL if fault == "SIGKILL" else 0)
    assert "node.restarted index=0" in text
    case.assert_committed_to_the_end()
    assert_in_order_per_process(out)
    no_violations(out)


def test_server_runs_only_the_included_consumer_group(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """One deployment, different groups in different processes: the selected group consumes,
    the other is never joined."""
    topic = new_topic(partitions=1)
    produce_messages(kafka_bootstrap, topic, ((None, b"m", 0) for _ in range(10)))
    (tmp_path / "twogroups.py").write_text(
        "import os, parafka\n"
        "class C(parafka.Consumer):\n"
        "    def consume(self, messages):\n"
        "        pass\n"
        f"app = parafka.App(kafka={{'bootstrap.servers': {kafka_bootstrap!r}}}, "
        f"group_id={unique_name('shop')!r})\n"
        f"app.topic({topic!r}, C, deserializer=parafka.raw_deserializer)\n"
        f"app.consumer_group({unique_name('audit')!r}).topic({topic!r}, C, "
        "deserializer=parafka.raw_deserializer)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import twogroups  # type: ignore[import-not-found]

        shop, audit = (route.group_id for route in twogroups.app.routes)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("twogroups", None)
    console = tmp_path / "console.log"
    with console.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parafka.cli",
                "server",
                "twogroups:app",
                "--include-consumer-groups",
                audit,
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: committed(kafka_bootstrap, audit, topic, 1) == {0: 10}, 60, "audit commits"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, console.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert committed(kafka_bootstrap, shop, topic, 1) == {0: -1001}  # nothing committed
    assert f"group={shop}" not in console.read_text()


def test_a_restarted_static_node_gets_its_partitions_back_without_a_rebalance(
    case: Case, unique_name: Callable[[str], str]
) -> None:
    instance = unique_name("member")
    out, console = case.out, case.console
    env = case.env(
        instance_id=instance,
        session_timeout_ms="30000",  # longer than the restart: the member is kept
    )
    with case.swarm(env, "--nodes", "2") as process:
        _wait_for_two_members(case)
        before = _members(case)
        pids = node_pids(console)
        # Both nodes have seen their current assignment (the group may have formed around
        # one node first, then rebalanced when the other joined).
        wait_until(
            lambda: all(_last_assignment(out, pid) == 2 for pid in pids.values()),
            60,
            "both nodes' assignments of two partitions",
        )
        earlier = len(_assignments(out))
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: node_pids(console)[0] != victim, 60, "node 0 to be replaced")
        replacement = node_pids(console)[0]
        wait_until(
            lambda: f"A {replacement} " in out.read_text(), 60, "the replacement's assignment"
        )
        _produce(case)
        wait_until(lambda: all_processed(out), 120, "every message processed")
        assert _members(case) == before
        _stop(process, console)
    # After the kill, one assignment only: the replacement's, of node 0's partitions; node 1
    # was never revoked and assigned again: no rebalance.
    later = _assignments(out)[earlier:]
    assert later == [["A", str(replacement), *str(sorted(before[f"{instance}-0"])).split()]]
    case.assert_committed_to_the_end()
    no_violations(out)


def test_nodes_stop_by_themselves_when_the_supervisor_is_killed(case: Case) -> None:
    with case.swarm(case.env(), "--nodes", "2") as process:
        _wait_for_two_members(case)
        _produce(case)
        wait_until(lambda: all_processed(case.out), 120, "every message processed")
        nodes = node_pids(case.console)
        process.kill()
        process.wait(10)

        def gone() -> bool:
            return all(_ended(pid) for pid in nodes.values())

        wait_until(gone, 60, "the orphaned nodes to stop")
    text = case.console.read_text()
    assert text.count("the swarm's supervisor is gone; stopping") == 2, text[-3000:]
    assert text.count("app.stopped") == 2
    assert text.count("app.stopped") == text.count("clean=True")
    case.assert_committed_to_the_end()


#: Per partition: 3 committed transactions of 40 with an aborted one of 15 between each, and an
#: aborted one last (the log ends with its marker).
TRANSACTIONS = [(40, True), (15, False), (40, True), (15, False), (40, True), (5, False)]


def test_a_transactional_topic_with_a_node_killed_commits_its_end(case: Case) -> None:
    """Offsets with gaps (aborted transactions and their markers, read_committed, librdkafka's
    default) and a rebalance while work runs: every committed message is processed, none of the
    aborted ones, and the commits reach each partition's end past the last marker."""
    bootstrap, topic, group, out = case.bootstrap, case.topic, case.group, case.out
    env = case.env(delay_ms="15", max_messages="5", session_timeout_ms="6000")
    with case.swarm(env, "--nodes", "2", "--node-report-timeout", "3") as process:
        _wait_for_two_members(case)
        visible = {
            p: set(offsets)
            for p, offsets in write_transactions(bootstrap, topic, PARTITIONS, TRANSACTIONS).items()
        }
        _fault_node_zero_mid_stream(case, signal.SIGKILL)

        def every_visible_one() -> bool:
            seen = processed(out)
            return all(
                visible[p] <= {offset for offset, _pid in seen.get(p, [])}
                for p in range(PARTITIONS)
            )

        wait_until(every_visible_one, 120, "every committed message processed")
        ends = end_offsets(bootstrap, topic)
        wait_until(
            lambda: committed(bootstrap, group, topic, PARTITIONS) == ends,
            60,
            "the commits to pass the last markers",
        )
        _stop(process, case.console)
    seen = processed(out)
    for partition in range(PARTITIONS):
        offsets = {offset for offset, _pid in seen[partition]}
        assert offsets == visible[partition]  # no aborted message, no marker
        assert ends[partition] > max(visible[partition]) + 1  # the log ends past them
    assert committed(bootstrap, group, topic, PARTITIONS) == ends
    assert_in_order_per_process(out)
    no_violations(out, visible)
