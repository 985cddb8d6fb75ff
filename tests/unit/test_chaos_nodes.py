"""Swarm members of the chaos harness: the ``parafka swarm`` options they pass, the supervisor's
node events read back from a member's output, and one log file per forked node."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from chaos.nodes import (
    NodeEvent,
    SwarmOptions,
    count_events,
    parse_node_events,
    replacement,
    running_nodes,
    unexpected_exits,
)
from chaos.records import parse_log, process_log_path

from parafka.cli.swarm import swarm
from parafka.instrumentation import LoggingSubscriber, Monitor

ROOT = Path(__file__).resolve().parents[2]


def supervisor_output(*events: tuple[str, dict[str, object]]) -> str:
    """What a swarm's supervisor writes for ``events``: parafka's own logging subscriber, with
    the line format of ``parafka swarm`` (``parafka.cli.swarm``)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(threadName)s %(message)s")
    )
    logger = logging.getLogger("test-chaos-nodes")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    monitor = Monitor()
    LoggingSubscriber(logger).attach(monitor)
    try:
        for name, payload in events:
            monitor.publish(name, **payload)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def started(index: int, pid: int, restarts: int = 0) -> tuple[str, dict[str, object]]:
    return "node.started", {"index": index, "pid": pid, "restarts": restarts}


def restarted(index: int, pid: int, restarts: int = 1) -> tuple[str, dict[str, object]]:
    payload = {"index": index, "pid": pid, "restarts": restarts, "failures": 1, "after": 1.0}
    return "node.restarted", payload


def exited(
    index: int, pid: int, status: int, *, hung: bool = False, stopping: bool = False
) -> tuple[str, dict[str, object]]:
    how = "killed by SIGKILL" if status == -9 else f"exit status {status}"
    payload = {
        "index": index,
        "pid": pid,
        "status": status,
        "how": how,
        "ran_for": 3.2,
        "hung": hung,
        "stopping": stopping,
    }
    return "node.exited", payload


def hung(index: int, pid: int) -> tuple[str, dict[str, object]]:
    payload = {"index": index, "pid": pid, "silent_for": 4.0, "reason": "no report", "timeout": 4}
    return "node.hung", payload


def test_swarm_options_are_options_of_parafka_swarm() -> None:
    options = SwarmOptions(nodes=2, report_interval=1.0, report_timeout=4.5, max_restarts=9)
    context = swarm.make_context("swarm", ["chaos.app:app", *options.args()])
    assert context.params["nodes"] == 2
    assert context.params["node_report_interval"] == 1.0
    assert context.params["node_report_timeout"] == 4.5
    assert context.params["max_restarts"] == 9


def test_bad_swarm_options_are_refused_by_parafka_swarm() -> None:
    with pytest.raises(click.BadParameter):
        swarm.make_context("swarm", ["chaos.app:app", *SwarmOptions(nodes=0).args()])


def test_node_events_are_read_from_the_supervisors_output() -> None:
    text = supervisor_output(started(0, 101), exited(0, 101, -9), restarted(0, 202), hung(1, 102))
    text += "2026-12-05 INFO node-1 parafka-listener rebalance.assigned group=g partitions=[]\n"
    text += "a line cut by another process: node.exited index=\n"
    events = parse_node_events(text)
    assert [(e.name, e.index, e.pid) for e in events] == [
        ("node.started", 0, 101),
        ("node.exited", 0, 101),
        ("node.restarted", 0, 202),
        ("node.hung", 1, 102),
    ]
    assert events[1].killed
    assert events[1].fields["hung"] == "False"
    assert not events[1].stopping


def test_the_running_nodes_follow_starts_and_exits() -> None:
    events = parse_node_events(
        supervisor_output(
            started(0, 101), started(1, 102), exited(0, 101, -9), started(0, 201), restarted(0, 201)
        )
    )
    assert running_nodes(events) == {0: 201, 1: 102}
    assert running_nodes(events[:3]) == {1: 102}
    # An exit of an older process of an index does not remove the newer one.
    assert running_nodes([*events, *parse_node_events(supervisor_output(exited(0, 101, 0)))]) == {
        0: 201,
        1: 102,
    }


def test_a_replacement_is_a_restart_of_the_index_after_the_exit() -> None:
    before = supervisor_output(started(0, 101), started(1, 102), restarted(1, 302))
    events = parse_node_events(before)
    assert replacement(events, 0, 101) is None  # not exited yet
    events = parse_node_events(before + supervisor_output(exited(0, 101, -9)))
    assert replacement(events, 0, 101) is None  # exited, not replaced yet
    events = parse_node_events(
        before + supervisor_output(exited(0, 101, -9), started(0, 201), restarted(0, 201))
    )
    found = replacement(events, 0, 101)
    assert found is not None
    assert (found.name, found.index, found.pid) == ("node.restarted", 0, 201)
    assert replacement(events, 1, 102) is None  # index 1 was restarted, but 102 never exited


def test_events_are_counted_with_kills_and_exits_of_hung_nodes() -> None:
    events = parse_node_events(
        supervisor_output(
            started(0, 101),
            exited(0, 101, -9),
            restarted(0, 201),
            hung(0, 201),
            exited(0, 201, 0, hung=True),
            exited(1, 102, 0, stopping=True),
        )
    )
    assert count_events(events) == {
        "node.exited": 3,
        "node.hung": 1,
        "node.hung_exited": 1,
        "node.killed": 1,
        "node.restarted": 1,
        "node.started": 1,
    }


def test_only_exits_the_harness_did_not_cause_are_unexpected() -> None:
    events = parse_node_events(
        supervisor_output(
            exited(0, 101, -9),  # signalled by the fault loop
            exited(1, 102, 1),  # crashed on its own
            exited(2, 103, 0, hung=True),  # found hung without a fault
            exited(0, 201, 0, stopping=True),  # the swarm's stop
        )
    )
    surprises = unexpected_exits(events, signalled={101})
    assert [(e.index, e.pid) for e in surprises] == [(1, 102), (2, 103)]
    assert all(isinstance(e, NodeEvent) for e in surprises)


def test_a_server_member_writes_its_log_a_swarm_node_its_own() -> None:
    assert process_log_path("/r/member-0-1.log", "MainProcess", 7) == "/r/member-0-1.log"
    assert process_log_path("/r/member-0-1.log", "supervisor", 7) == "/r/member-0-1.log"
    assert process_log_path("/r/member-0-1.log", "node-2", 4321) == "/r/member-0-1.node-2.4321.log"


_FORKING = """
import multiprocessing, os, sys
import chaos.app as app
app._write("P", 0, 0)  # the parent writes first: its descriptor is open at the fork
children = []
for index in range(2):
    pid = os.fork()
    if pid == 0:
        multiprocessing.current_process().name = f"node-{index}"
        for offset in range(200):
            app._write("P", index + 1, offset)
        os._exit(0)
    children.append(pid)
for pid in children:
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
print(" ".join(map(str, children)))
"""


def test_forked_nodes_write_a_log_each_not_the_parents(tmp_path: Path) -> None:
    """As in a swarm: the module is imported (here also written to) before the fork."""
    base = tmp_path / "member-0-1.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "CHAOS_BOOTSTRAP": "127.0.0.1:1",
        "CHAOS_TOPIC": "t",
        "CHAOS_GROUP": "g",
        "CHAOS_LOG": str(base),
    }
    done = subprocess.run(
        [sys.executable, "-c", _FORKING],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pids = [int(pid) for pid in done.stdout.split()]
    parent = parse_log("parent", base.read_text())
    assert [(e.partition, e.offset) for e in parent.entries] == [(0, 0)]
    for index, pid in enumerate(pids):
        path = tmp_path / f"member-0-1.node-{index}.{pid}.log"
        node = parse_log(path.stem, path.read_text())
        assert not node.torn
        assert [(e.partition, e.offset) for e in node.entries] == [
            (index + 1, offset) for offset in range(200)
        ]
    assert len(list(tmp_path.glob("member-*.log"))) == 3
