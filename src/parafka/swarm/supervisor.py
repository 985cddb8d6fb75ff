"""The swarm's supervisor: forks the nodes, watches their reports, restarts and stops them.

Thread ownership: everything here runs on the supervisor process's main thread. Signal
handlers only record the signal (the loop wakes through ``signal.set_wakeup_fd``), and
:meth:`Supervisor.request_stop` may be called from any thread. The supervisor never creates a
Kafka client: librdkafka's threads do not survive ``fork``, so each node makes its own.

Each node runs in a process group of its own, so a terminal's Ctrl-C reaches the supervisor
only, which stops every node once (a node that got the terminal's SIGINT too would take the
supervisor's SIGTERM as a second signal and exit at once). A node whose supervisor is gone
stops by itself (see :mod:`parafka.swarm.node`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from parafka.errors import ConfigurationError
from parafka.instrumentation import Monitor
from parafka.swarm.policy import RestartPolicy
from parafka.swarm.reports import EXIT_CONFIG, LineReader

__all__ = ["NodeContext", "NodeTarget", "Supervisor", "describe_status"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
_FORWARDED = (signal.SIGTSTP, signal.SIGTTIN)
_HANDLED = (*_STOP_SIGNALS, *_FORWARDED, signal.SIGCHLD)
_MAX_WAIT = 1.0  # the loop's longest sleep: deadlines are checked at least this often


@dataclass(frozen=True)
class NodeContext:
    """What a forked node is told: its index, and where and how often to report."""

    index: int
    nodes: int
    supervisor_pid: int
    report_fd: int
    report_interval: float
    #: The swarm is in quiet mode (SIGTSTP): a node started now goes quiet at once.
    quiet: bool = False


#: Runs a node in the forked child and returns its exit status.
NodeTarget = Callable[[NodeContext], int]


def describe_status(status: int) -> str:
    """``os.waitstatus_to_exitcode``'s value in words: "exit status 1", "killed by SIGKILL"."""
    if status >= 0:
        return f"exit status {status}"
    try:
        return f"killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"killed by signal {-status}"


@dataclass
class _Slot:
    """One node index and the process running it now (if any)."""

    index: int
    pid: int | None = None
    fd: int | None = None
    reader: LineReader = field(default_factory=LineReader)
    started_at: float = 0.0
    last_ok: float = 0.0
    reason: str | None = None  # of the last unhealthy report
    error: str | None = None  # reported by a node that could not start
    failures: int = 0  # in a row (RestartPolicy)
    restarts: int = 0
    restart_at: float | None = None
    backoff: float = 0.0  # the wait before the pending restart
    hung: bool = False
    kill_at: float | None = None
    killed: bool = False


class Supervisor:
    """Forks ``nodes`` processes running ``target`` and keeps them running until stopped.

    ``run()`` returns the exit status: 0 after a requested stop in which every node exited 0;
    1 after a crash loop (:class:`RestartPolicy`); 2 when a node could not start with its
    configuration, or did not stop cleanly (a non-zero exit, or SIGKILL after
    ``stop_timeout``), or a second stop signal forced the stop. :attr:`error` says why.
    """

    def __init__(
        self,
        target: NodeTarget,
        *,
        nodes: int,
        monitor: Monitor,
        policy: RestartPolicy,
        report_interval: float,
        report_timeout: float,
        stop_timeout: float,
        kill_timeout: float,
        node_info: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self._target = target
        self._monitor = monitor
        self._policy = policy
        self._report_interval = report_interval
        self._report_timeout = report_timeout
        self._stop_timeout = stop_timeout
        self._kill_timeout = kill_timeout
        self._node_info = node_info or (lambda _index: {})
        self._slots = [_Slot(index) for index in range(nodes)]
        self._signals: collections.deque[int] = collections.deque()
        self._wake_r = -1
        self._wake_w = -1
        self._stopping = False
        self._stop_deadline = 0.0
        self._forced = False
        self._quiet = False
        self._status = 0
        #: Why the swarm stopped on its own or not cleanly (None: a clean requested stop).
        self.error: str | None = None

    # -- any thread ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop every node gracefully, as SIGTERM does (thread-safe and signal-safe)."""
        self._signals.append(signal.SIGTERM)
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    # -- the main thread -------------------------------------------------------------------

    def run(self) -> int:
        if threading.current_thread() is not threading.main_thread():
            raise ConfigurationError("a swarm's supervisor must run on the main thread")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        previous_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in _HANDLED}
        try:
            now = time.monotonic()
            for slot in self._slots:
                self._fork(slot, now)
            return self._loop()
        finally:
            self._kill_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _loop(self) -> int:
        while True:
            fds = [self._wake_r, *(s.fd for s in self._slots if s.fd is not None)]
            try:
                readable, _, _ = select.select(fds, [], [], self._wait_time(time.monotonic()))
            except InterruptedError:
                readable = []
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 512):
                        pass
            while self._signals:
                self._on(self._signals.popleft())
            for slot in self._slots:
                if slot.fd is not None and slot.fd in readable:
                    self._read(slot, time.monotonic())
            self._reap(time.monotonic())
            now = time.monotonic()
            if self._stopping:
                if all(slot.pid is None for slot in self._slots):
                    return self._status
                if now >= self._stop_deadline and not self._forced:
                    alive = [str(s.index) for s in self._slots if s.pid is not None]
                    self._fail(
                        2,
                        f"node(s) {', '.join(alive)} did not stop within "
                        f"{self._stop_timeout:g} s: killed",
                    )
                    self._force()
            else:
                self._watch(now)
                self._restart_due(now)

    def _wait_time(self, now: float) -> float:
        deadlines = [now + _MAX_WAIT]
        if self._stopping:
            deadlines.append(self._stop_deadline)
        for slot in self._slots:
            if slot.restart_at is not None:
                deadlines.append(slot.restart_at)
            if slot.kill_at is not None and not slot.killed:
                deadlines.append(slot.kill_at)
            if slot.pid is not None and not slot.hung:
                deadlines.append(slot.last_ok + self._report_timeout)
        return max(0.0, min(deadlines) - now)

    def _on(self, signum: int) -> None:
        if signum in _STOP_SIGNALS:
            if self._stopping:
                self._fail(2, f"second {signal.Signals(signum).name}: nodes killed")
                self._force()
            else:
                self._begin_stop()
        elif signum in _FORWARDED:
            if signum == signal.SIGTSTP:
                self._quiet = True
            for slot in self._slots:
                self._signal(slot, signum)

    def _fail(self, status: int, error: str) -> None:
        self._status = max(self._status, status)
        if self.error is None:
            self.error = error

    def _begin_stop(self) -> None:
        self._stopping = True
        self._stop_deadline = time.monotonic() + self._stop_timeout
        for slot in self._slots:
            slot.restart_at = None
            self._signal(slot, signal.SIGTERM)
            self._signal(slot, signal.SIGCONT)  # a stopped (SIGSTOP) node must see it

    def _force(self) -> None:
        self._forced = True
        for slot in self._slots:
            self._signal(slot, signal.SIGKILL)

    def _signal(self, slot: _Slot, signum: int) -> None:
        if slot.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signum)

    # -- nodes -----------------------------------------------------------------------------

    def _fork(self, slot: _Slot, now: float) -> None:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the node
            status = 1
            try:
                os.close(read_fd)
                status = self._child(slot, write_fd)
            except SystemExit as exc:  # sys.exit() in the node: None is success
                status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(status)
        os.close(write_fd)
        with contextlib.suppress(OSError):  # also set in the child: whichever runs first
            os.setpgid(pid, pid)
        os.set_blocking(read_fd, False)
        slot.pid, slot.fd, slot.reader = pid, read_fd, LineReader()
        slot.started_at = slot.last_ok = now
        slot.reason = slot.error = None
        slot.hung = slot.killed = False
        slot.kill_at = slot.restart_at = None
        self._monitor.publish(
            "node.started", index=slot.index, pid=pid, restarts=slot.restarts,
            **self._node_info(slot.index),
        )  # fmt: skip

    def _child(self, slot: _Slot, write_fd: int) -> int:
        """In the forked node: drop the supervisor's signal handling and descriptors, run."""
        signal.set_wakeup_fd(-1)
        for signum in _HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        # Until the app installs its own: the default of these two would stop the process.
        signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        signal.signal(signal.SIGTTIN, signal.SIG_IGN)
        for fd in (self._wake_r, self._wake_w, *(s.fd for s in self._slots)):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        context = NodeContext(
            index=slot.index,
            nodes=len(self._slots),
            supervisor_pid=os.getppid(),
            report_fd=write_fd,
            report_interval=self._report_interval,
            quiet=self._quiet,
        )
        return self._target(context)

    def _read(self, slot: _Slot, now: float) -> None:
        assert slot.fd is not None
        chunks: list[bytes] = []
        eof = False
        try:
            while True:
                data = os.read(slot.fd, 65_536)
                if not data:
                    eof = True
                    break
                chunks.append(data)
        except BlockingIOError:
            pass
        for report in slot.reader.feed(b"".join(chunks)):
            if report["kind"] == "report":
                if report.get("ok") is True:
                    slot.last_ok, slot.reason = now, None
                else:
                    slot.reason = str(report.get("reason") or "unhealthy")
            elif report["kind"] == "error":
                slot.error = str(report.get("message") or "unknown error")
        if eof:
            os.close(slot.fd)
            slot.fd = None

    def _reap(self, now: float) -> None:
        for slot in self._slots:
            if slot.pid is None:
                continue
            try:
                pid, wait_status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its status is lost
                pid, wait_status = slot.pid, 255 << 8
            if pid == 0:
                continue
            if slot.fd is not None:
                self._read(slot, now)  # its last words
                if slot.fd is not None:
                    os.close(slot.fd)
                    slot.fd = None
            self._exited(slot, os.waitstatus_to_exitcode(wait_status), now)

    def _exited(self, slot: _Slot, status: int, now: float) -> None:
        ran_for = now - slot.started_at
        self._monitor.publish(
            "node.exited",
            index=slot.index,
            pid=slot.pid,
            status=status,
            how=describe_status(status),
            ran_for=round(ran_for, 3),
            hung=slot.hung,
            stopping=self._stopping,
        )
        slot.pid = None
        slot.kill_at = None
        if self._stopping:
            if status != 0:
                self._fail(2, f"node {slot.index} did not stop cleanly ({describe_status(status)})")
            return
        if status == EXIT_CONFIG or slot.error is not None:
            self._fail(
                2, f"node {slot.index} could not start: {slot.error or describe_status(status)}"
            )
            self._begin_stop()
            return
        slot.failures = self._policy.failures_after(slot.failures, ran_for)
        delay = self._policy.delay(slot.failures)
        if delay is None:
            self._fail(
                1,
                f"node {slot.index} failed {slot.failures} times in a row, each within "
                f"{self._policy.stable_after:g} s of its start (last: "
                f"{'hung' if slot.hung else describe_status(status)}); the swarm stops "
                f"instead of restarting it again (max_restarts {self._policy.max_restarts})",
            )
            self._begin_stop()
            return
        slot.restart_at = now + delay
        slot.backoff = delay

    def _restart_due(self, now: float) -> None:
        for slot in self._slots:
            if slot.restart_at is not None and now >= slot.restart_at and slot.pid is None:
                slot.restarts += 1
                self._fork(slot, now)
                self._monitor.publish(
                    "node.restarted",
                    index=slot.index,
                    pid=slot.pid,
                    restarts=slot.restarts,
                    failures=slot.failures,
                    after=slot.backoff,
                )

    def _watch(self, now: float) -> None:
        """Hang detection: no healthy report for ``report_timeout`` -> SIGTERM, then SIGKILL."""
        for slot in self._slots:
            if slot.pid is None:
                continue
            if slot.hung:
                if not slot.killed and slot.kill_at is not None and now >= slot.kill_at:
                    slot.killed = True
                    self._signal(slot, signal.SIGKILL)
                continue
            silent = now - slot.last_ok
            if silent > self._report_timeout:
                slot.hung = True
                slot.kill_at = now + self._kill_timeout
                self._monitor.publish(
                    "node.hung",
                    index=slot.index,
                    pid=slot.pid,
                    silent_for=round(silent, 3),
                    reason=slot.reason or "no report",
                    timeout=self._report_timeout,
                )
                self._signal(slot, signal.SIGTERM)
                self._signal(slot, signal.SIGCONT)

    def _kill_all(self) -> None:
        """On the way out (also after an exception): no node outlives the supervisor's run."""
        for slot in self._slots:
            if slot.pid is not None:
                self._signal(slot, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(slot.pid, 0)
                slot.pid = None
            if slot.fd is not None:
                os.close(slot.fd)
                slot.fd = None
