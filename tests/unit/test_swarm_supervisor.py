"""The swarm's supervisor with real forked processes running small targets (no Kafka).

Each target stands for a node: it reports through the pipe as a node does, and misbehaves in
the way the test needs (exits, goes silent, ignores SIGTERM, cannot start). The supervisor runs
on the test's main thread, as it must; a helper thread asks it to stop once the test saw what
it waits for, and a last-resort timer forces the stop so that a broken supervisor fails the
test instead of hanging it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from parafka.instrumentation import Event, Monitor
from parafka.swarm.policy import RestartPolicy
from parafka.swarm.reports import EXIT_CONFIG, encode
from parafka.swarm.supervisor import NodeContext, Supervisor, describe_status

FAST = RestartPolicy(backoff=0.05, max_backoff=0.2, max_restarts=3, stable_after=30.0)


class Recorder:
    def __init__(self, monitor: Monitor) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        monitor.subscribe("*", self._record)

    def _record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def named(self, name: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.name == name]


def _serve(context: NodeContext, marker: Path, *, on_term: str = "exit") -> int:
    """A well-behaved node: marks itself ready, reports until SIGTERM, exits 0."""
    stop = threading.Event()
    if on_term == "exit":
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGTSTP, lambda *_: (marker.parent / f"quiet-{os.getpid()}").touch())
    signal.signal(signal.SIGTTIN, lambda *_: (marker.parent / f"ttin-{os.getpid()}").touch())
    marker.parent.mkdir(exist_ok=True)
    (marker.parent / f"{marker.name}-{context.index}-{os.getpid()}").touch()
    while not stop.wait(context.report_interval):
        os.write(context.report_fd, encode("report", ok=True))
    return 0


def _supervise(
    target: Callable[[NodeContext], int],
    *,
    nodes: int = 2,
    policy: RestartPolicy = FAST,
    report_timeout: float = 30.0,
    stop_timeout: float = 20.0,
    kill_timeout: float = 20.0,
    until: Callable[[Recorder], bool] | None = None,
    then: Callable[[Supervisor], None] | None = None,
    limit: float = 60.0,
) -> tuple[int, Supervisor, Recorder]:
    """Run a supervisor on this (main) thread; once ``until(recorder)`` holds, call ``then``
    (default: a stop request) with the supervisor. Returns its status, itself and the events."""
    monitor = Monitor()
    recorder = Recorder(monitor)
    supervisor = Supervisor(
        target,
        nodes=nodes,
        monitor=monitor,
        policy=policy,
        report_interval=0.05,
        report_timeout=report_timeout,
        stop_timeout=stop_timeout,
        kill_timeout=kill_timeout,
    )
    done = threading.Event()

    def drive() -> None:
        deadline = time.monotonic() + limit
        while until is not None and not until(recorder):
            if done.wait(0.02) or time.monotonic() > deadline:
                break
        if not done.is_set():
            (then or Supervisor.request_stop)(supervisor)
        if not done.wait(limit):  # a broken supervisor: end the test, do not hang it
            supervisor.request_stop()
            supervisor.request_stop()

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        status = supervisor.run()
    finally:
        done.set()
        driver.join(5)
    return status, supervisor, recorder


def _ready(directory: Path, count: int, name: str = "ready") -> Callable[[Recorder], bool]:
    return lambda _r: len(list(directory.glob(f"{name}-*"))) >= count


def test_a_stop_request_stops_every_node_cleanly(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    status, supervisor, events = _supervise(
        lambda c: _serve(c, tmp_path / "ready"), until=_ready(tmp_path, 2)
    )
    assert status == 0, supervisor.error
    assert supervisor.error is None
    assert sorted(e["index"] for e in events.named("node.started")) == [0, 1]
    exited = events.named("node.exited")
    assert sorted(e["index"] for e in exited) == [0, 1]
    assert all(e["status"] == 0 and e["stopping"] for e in exited)
    assert not events.named("node.restarted")
    assert signal.getsignal(signal.SIGTERM) is previous  # the supervisor's handlers are undone


def test_a_node_that_exits_is_restarted_after_its_back_off(tmp_path: Path) -> None:
    def target(context: NodeContext) -> int:
        if context.index == 0 and not (tmp_path / "crashed").exists():
            (tmp_path / "crashed").touch()
            return 3
        return _serve(context, tmp_path / "ready")

    status, supervisor, events = _supervise(target, until=_ready(tmp_path, 2))
    assert status == 0, supervisor.error
    first = events.named("node.exited")[0]
    assert (first["index"], first["status"], first["stopping"]) == (0, 3, False)
    restarted = events.named("node.restarted")
    assert [(e["index"], e["restarts"], e["failures"], e["after"]) for e in restarted] == [
        (0, 1, 1, 0.05)
    ]
    assert restarted[0]["pid"] != first["pid"]
    assert len(list(tmp_path.glob("ready-0-*"))) == 1  # the replacement served


def test_a_crash_loop_stops_the_swarm_with_status_1(tmp_path: Path) -> None:
    def target(context: NodeContext) -> int:
        if context.index == 0:
            return 1
        return _serve(context, tmp_path / "ready")

    status, supervisor, events = _supervise(target, until=None, then=lambda _s: None)
    assert status == 1
    assert supervisor.error is not None
    assert "node 0 failed 4 times in a row" in supervisor.error
    assert "max_restarts 3" in supervisor.error
    restarts = [e for e in events.named("node.restarted") if e["index"] == 0]
    assert [e["after"] for e in restarts] == [0.05, 0.1, 0.2]  # doubling, up to max_backoff
    node1 = [e for e in events.named("node.exited") if e["index"] == 1]
    assert len(node1) == 1
    assert node1[0]["stopping"]
    assert node1[0]["status"] == 0


def test_a_silent_node_is_hung_terminated_killed_and_replaced(tmp_path: Path) -> None:
    def target(context: NodeContext) -> int:
        if context.index == 0 and not (tmp_path / "hung").exists():
            (tmp_path / "hung").touch()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # deaf to the supervisor's SIGTERM
            while True:
                time.sleep(1)  # never reports
        return _serve(context, tmp_path / "ready")

    status, supervisor, events = _supervise(
        target, nodes=1, report_timeout=1.0, kill_timeout=0.5, until=_ready(tmp_path, 1)
    )
    assert status == 0, supervisor.error
    hung = events.named("node.hung")
    assert len(hung) == 1
    assert hung[0]["reason"] == "no report"
    assert hung[0]["silent_for"] >= 1.0  # rounded to the millisecond
    exited = events.named("node.exited")[0]
    assert exited["hung"]
    assert exited["status"] == -signal.SIGKILL
    assert events.named("node.restarted")[0]["index"] == 0


def test_an_unhealthy_report_does_not_count_as_liveness(tmp_path: Path) -> None:
    def target(context: NodeContext) -> int:
        if not (tmp_path / "sick").exists():
            (tmp_path / "sick").touch()
            while True:  # alive, but says it is not healthy
                os.write(context.report_fd, encode("report", ok=False, reason="listener stuck"))
                time.sleep(0.05)
        return _serve(context, tmp_path / "ready")

    status, supervisor, events = _supervise(
        target, nodes=1, report_timeout=1.0, kill_timeout=5.0, until=_ready(tmp_path, 1)
    )
    assert status == 0, supervisor.error
    assert [e["reason"] for e in events.named("node.hung")] == ["listener stuck"]
    # It obeyed SIGTERM (default action): no SIGKILL needed.
    assert events.named("node.exited")[0]["status"] == -signal.SIGTERM


def test_a_node_that_cannot_start_stops_the_swarm_with_status_2(tmp_path: Path) -> None:
    def target(context: NodeContext) -> int:
        if context.index == 1:
            os.write(context.report_fd, encode("error", message="kafka: unknown setting 'x'"))
            return EXIT_CONFIG
        return _serve(context, tmp_path / "ready")

    status, supervisor, events = _supervise(target, until=None, then=lambda _s: None)
    assert status == 2
    assert supervisor.error == "node 1 could not start: kafka: unknown setting 'x'"
    assert not events.named("node.restarted")


def test_a_node_that_ignores_the_stop_is_killed_at_the_deadline(tmp_path: Path) -> None:
    status, supervisor, events = _supervise(
        lambda c: _serve(c, tmp_path / "ready", on_term="ignore"),
        nodes=1,
        stop_timeout=0.5,
        until=_ready(tmp_path, 1),
    )
    assert status == 2
    assert supervisor.error == "node(s) 0 did not stop within 0.5 s: killed"
    assert events.named("node.exited")[0]["status"] == -signal.SIGKILL


def test_quiet_and_diagnostics_signals_reach_every_node(tmp_path: Path) -> None:
    def signalled() -> bool:
        return len(list(tmp_path.glob("quiet-*"))) == 2 and len(list(tmp_path.glob("ttin-*"))) == 2

    def then(supervisor: Supervisor) -> None:
        os.kill(os.getpid(), signal.SIGTSTP)  # to the supervisor (this process), as a shell does
        os.kill(os.getpid(), signal.SIGTTIN)
        deadline = time.monotonic() + 20
        while not signalled() and time.monotonic() < deadline:
            time.sleep(0.02)
        supervisor.request_stop()

    status, supervisor, _events = _supervise(
        lambda c: _serve(c, tmp_path / "ready"), until=_ready(tmp_path, 2), then=then
    )
    assert status == 0, supervisor.error
    assert signalled()


def test_a_second_stop_signal_kills_the_nodes(tmp_path: Path) -> None:
    def twice(supervisor: Supervisor) -> None:
        supervisor.request_stop()
        time.sleep(0.3)
        supervisor.request_stop()

    status, supervisor, events = _supervise(
        lambda c: _serve(c, tmp_path / "ready", on_term="ignore"),
        nodes=1,
        until=_ready(tmp_path, 1),
        then=twice,
    )
    assert status == 2
    assert supervisor.error == "second SIGTERM: nodes killed"
    assert events.named("node.exited")[0]["status"] == -signal.SIGKILL


def test_the_supervisor_refuses_to_run_off_the_main_thread() -> None:
    supervisor = Supervisor(
        lambda _c: 0,
        nodes=1,
        monitor=Monitor(),
        policy=FAST,
        report_interval=0.1,
        report_timeout=1.0,
        stop_timeout=1.0,
        kill_timeout=1.0,
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            supervisor.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert "main thread" in str(errors[0])


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (0, "exit status 0"),
        (2, "exit status 2"),
        (-9, "killed by SIGKILL"),
        (-99, "killed by signal 99"),
    ],
)
def test_describe_status(status: int, words: str) -> None:
    assert describe_status(status) == words


@pytest.mark.parametrize(("code", "status"), [(None, 0), (4, 4), ("bye", 1)])
def test_sys_exit_in_a_node_is_its_exit_status(tmp_path: Path, code: object, status: int) -> None:
    def target(context: NodeContext) -> int:
        if not (tmp_path / "exited").exists():
            (tmp_path / "exited").touch()
            raise SystemExit(code)
        return _serve(context, tmp_path / "ready")

    result, supervisor, events = _supervise(target, nodes=1, until=_ready(tmp_path, 1))
    assert result == 0, supervisor.error
    assert events.named("node.exited")[0]["status"] == status


def test_a_stop_while_a_hung_node_stops_does_not_signal_it_twice(tmp_path: Path) -> None:
    """The hung node got SIGTERM already; a second would be "exit at once" for an app."""

    def target(context: NodeContext) -> int:
        terms: list[int] = []
        signal.signal(signal.SIGTERM, lambda *_: terms.append(1))
        (tmp_path / f"silent-{os.getpid()}").touch()
        while not terms:  # silent until the supervisor's SIGTERM ...
            time.sleep(0.01)
        (tmp_path / f"stopping-{os.getpid()}").touch()
        time.sleep(1.0)  # ... then a graceful stop that takes a while
        return 2 if len(terms) > 1 else 0

    status, supervisor, events = _supervise(
        target,
        nodes=1,
        report_timeout=1.0,
        until=_ready(tmp_path, 1, name="stopping"),
    )
    assert status == 0, supervisor.error
    assert len(events.named("node.hung")) == 1
    assert [e["status"] for e in events.named("node.exited")] == [0]
