"""The processes of a chaos run: its own local broker and the consumer members.

Threads: everything here is driven by the runner's thread. Only processes this module started
are ever signalled: the broker by the pid its own ``LocalBroker`` recorded (and checked to be
alive and ours), members by their ``Popen``.
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

from chaos.backlog import BROKER_SETTINGS
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
    """One consumer process (``parafka server chaos.app:app``) in a slot; restarts get new
    incarnations, each with its own log file."""

    slot: int
    directory: Path
    env: dict[str, str]
    incarnation: int = 0
    process: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"member-{self.slot}-{self.incarnation}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.alive
        self.incarnation += 1
        log = self.directory / f"{self.name}.log"
        with (self.directory / f"{self.name}.out").open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "parafka.cli", "server", "chaos.app:app"],
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
        if self.alive:
            self.signal(signal.SIGKILL)
            self.wait(10.0)

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
        """True when this incarnation's log has a line starting with ``tag``."""
        return self.count(tag) > 0

    def count(self, tag: str) -> int:
        """How many lines of this incarnation's log start with ``tag``."""
        path = self.directory / f"{self.name}.log"
        if not path.exists():
            return 0
        return sum(1 for line in path.read_text().splitlines() if line.startswith(tag + " "))

    def joined(self, timeout: float) -> bool:
        """Wait (bounded) until this incarnation logged its first rebalance (``G``) line."""
        deadline = time.monotonic() + timeout
        while not self.logged("G"):
            if time.monotonic() > deadline or not self.alive:
                return False
            time.sleep(0.1)
        return True

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
