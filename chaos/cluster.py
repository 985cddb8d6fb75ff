"""The processes of a chaos run: its own local broker and the consumer members.

Threads: everything here is driven by the runner's thread. Only processes this module started
are ever signalled: the broker by the pid its own ``LocalBroker`` recorded (and checked to be
alive and ours), members by their ``Popen``, a swarm member's nodes by a pid that is a child of
that member's supervisor at the moment of the signal (``/proc/<pid>/task/<pid>/children``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from signal import Signals

from chaos.backlog import BROKER_SETTINGS
from chaos.nodes import NodeEvent, SwarmOptions, parse_node_events, running_nodes
from parafka.broker import BrokerInfo, LocalBroker

__all__ = ["Broker", "Member", "rss_bytes"]

ROOT = Path(__file__).resolve().parents[1]

#: Broker settings for fast group fault detection with KIP-848 (classic uses the client's
#: session.timeout.ms=6000, set by chaos.app) and a log cleaner that does not wait 15 s.
BROKER_OVERRIDES = {
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.heartbeat.interval.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "1000",
    **BROKER_SETTINGS,  # the log cleaner, for the compacted scenario
}


class Broker:
    """A dedicated local broker (``chaos-<pid>``) that faults may stop, kill, freeze, restart."""

    def __init__(self, name: str) -> None:
        self._local = LocalBroker(name)
        self.info: BrokerInfo | None = None

    @property
    def bootstrap(self) -> str:
        assert self.info is not None, "the broker is not started"
        return self.info.bootstrap

    def start(self) -> None:
        self.info = self._local.start(overrides=BROKER_OVERRIDES)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to this broker's JVM (only if it is the broker this object started)."""
        running = self._local.status()
        if self.info is None or running is None or running.pid != self.info.pid:
            raise RuntimeError(f"broker {self._local.name} is not running as started")
        os.kill(running.pid, sig)

    def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._local.status() is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def restart(self) -> None:
        assert self.info is not None
        self.info = self._local.restart(self.info)

    def remove(self) -> None:
        if self.info is not None:
            with contextlib.suppress(RuntimeError, ProcessLookupError):
                self.signal(signal.SIGCONT)  # a frozen broker would ignore SIGTERM
        self._local.remove(timeout=20.0)


@dataclass
class Member:
    """One consumer process (``parafka server chaos.app:app``) in a slot, or with ``swarm`` a
    supervisor (``parafka swarm chaos.app:app``) and its nodes; restarts get new incarnations,
    each with its own log file (one per node in a swarm) and output file."""

    slot: int
    directory: Path
    env: dict[str, str]
    swarm: SwarmOptions | None = None
    incarnation: int = 0
    process: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)
    #: Node pids this member's fault loops signalled (their exits are not a surprise).
    signalled: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"member-{self.slot}-{self.incarnation}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def output(self) -> Path:
        """This incarnation's stdout and stderr (a swarm's nodes write there too)."""
        return self.directory / f"{self.name}.out"

    def command(self) -> list[str]:
        cli = [sys.executable, "-m", "parafka.cli"]
        if self.swarm is None:
            return [*cli, "server", "chaos.app:app"]
        return [*cli, "swarm", "chaos.app:app", *self.swarm.args()]

    def start(self) -> None:
        assert not self.alive
        self.incarnation += 1
        log = self.directory / f"{self.name}.log"
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env={**os.environ, **self.env, "CHAOS_LOG": str(log)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit; its status, or None if it still runs."""
        if self.process is None:
            return None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exits.append(code)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL the member; a swarm's nodes too (in process groups of their own, they would
        otherwise run on until they notice that their supervisor is gone)."""
        if not self.alive:
            return
        nodes = [self._pidfd(pid) for pid in self._children()]  # while they are its children
        self.signal(signal.SIGKILL)
        self.wait(10.0)
        for pidfd in nodes:
            if pidfd is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)

    def stop(self, timeout: float) -> int | None:
        """SIGTERM and wait; after ``timeout``, SIGTTIN (parafka writes every thread's stack to
        the member's output) and SIGKILL (returns None then)."""
        if not self.alive:
            return None
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.signal(signal.SIGTTIN)
            if self.wait(3.0) is None:
                self.kill()
        return code

    def logged(self, tag: str) -> bool:
        """True when this incarnation's logs have a line starting with ``tag``."""
        return self.count(tag) > 0

    def logs(self) -> list[Path]:
        """This incarnation's log files (one per swarm node, ``chaos.records.process_log_path``)."""
        own, nodes = f"{self.name}.log", f"{self.name}.node-*.log"
        return sorted([*self.directory.glob(own), *self.directory.glob(nodes)])

    def count(self, tag: str) -> int:
        """How many lines of this incarnation's logs start with ``tag``."""
        return sum(
            1
            for path in self.logs()
            for line in path.read_text().splitlines()
            if line.startswith(tag + " ")
        )

    def joined(self, timeout: float) -> bool:
        """Wait (bounded) until this incarnation logged its first rebalance (``G``) line (in a
        swarm: any node's)."""
        deadline = time.monotonic() + timeout
        while not self.logged("G"):
            if time.monotonic() > deadline or not self.alive:
                return False
            time.sleep(0.1)
        return True

    # -- swarm members ---------------------------------------------------------------------

    def node_events(self) -> list[NodeEvent]:
        """The supervisor's node events of this incarnation so far, in order."""
        if self.swarm is None or not self.output.exists():
            return []
        return parse_node_events(self.output.read_text(errors="replace"))

    def nodes(self) -> dict[int, int]:
        """Node index -> pid of this incarnation's running nodes: started according to the
        supervisor's output, and its children now."""
        children = self._children()
        return {i: pid for i, pid in running_nodes(self.node_events()).items() if pid in children}

    def signal_node(self, pid: int, sig: Signals) -> bool:
        """Send ``sig`` to node ``pid`` if it is a child of this member's supervisor; False if
        it is not (gone already). Through a pidfd (:meth:`open_node`): exact despite pid
        reuse."""
        pidfd = self.open_node(pid)
        if pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            return False
        finally:
            os.close(pidfd)
        return True

    def open_node(self, pid: int) -> int | None:
        """A pidfd of node ``pid`` to signal it through (the caller closes it), or None if
        ``pid`` is not a child of this member's supervisor; the pid counts as signalled.

        Opened first and checked after, so it cannot name a process that took over a reused
        pid; and it keeps naming that node when the node is no longer the supervisor's child
        (a SIGSTOP can always be followed by its SIGCONT)."""
        pidfd = self._pidfd(pid)
        if pidfd is not None:
            self.signalled.add(pid)
        return pidfd

    def _pidfd(self, pid: int) -> int | None:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        if pid not in self._children():
            os.close(pidfd)
            return None
        return pidfd

    def _children(self) -> set[int]:
        """The pids of the supervisor's children (its nodes); empty for a ``parafka server``."""
        if self.swarm is None or not self.alive:
            return set()
        assert self.process is not None
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return set()
        return {int(child) for child in text.split()}

    def rss(self) -> int | None:
        return rss_bytes(self.process.pid) if self.alive and self.process else None


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
