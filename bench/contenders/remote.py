"""Processes a contender starts (a multiprocessing pool, ``faststream run --workers``, ``parafka
swarm`` nodes) process the messages and report each one to the contender's :class:`Recorder`.

Standard library only: this module runs inside each peer's own virtualenv.

The contender process opens a :class:`Collector`: a Unix datagram socket in a fresh temporary
directory, read by a thread of its own. It passes the socket's path and the spec to the
processes it starts through the environment (:meth:`Collector.environment`: ``BENCH_PROBE``,
``BENCH_SPEC``), which survives both fork and spawn. In each of those processes :func:`probe`
builds one :class:`Probe` (one per process id, so a forked child builds its own), which does each
message's work exactly as :meth:`Recorder.process` does and reports ``(process id, partition,
key, sequence, began, ended)``. Reports are buffered and sent a datagram at a time (at most every
:data:`FLUSH_INTERVAL` seconds, or every :data:`BATCH` messages), so reporting costs the
processes a few microseconds a message, not a system call each; the times are taken where the
work happens (the monotonic clock is the machine's), so the delay does not enter the figures.

Thread ownership: a :class:`Probe` is called from the threads or event loop of its process;
``_lock`` guards its buffer; its ``bench-probe`` thread only sends. The collector's
``bench-collector`` thread is the only one that reads the socket and calls
:meth:`Recorder.record_elsewhere`.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from bench.contenders.common import Recorder, Spec, sequence_of
from bench.contenders.work import Plan, perform, perform_async

__all__ = [
    "BATCH",
    "FLUSH_INTERVAL",
    "PROBE_ENV",
    "SPEC_ENV",
    "Collector",
    "Probe",
    "decode",
    "encode",
    "probe",
]

PROBE_ENV = "BENCH_PROBE"
SPEC_ENV = "BENCH_SPEC"
FLUSH_INTERVAL = 0.01
BATCH = 256
#: One report: process id, partition, key (-1: not sequenced), sequence, began, ended.
_RECORD = struct.Struct("<iiiqdd")

Report = tuple[int, int, int, int, float, float]


def encode(reports: Sequence[Report]) -> bytes:
    """Reports as one datagram."""
    return b"".join(_RECORD.pack(*report) for report in reports)


def decode(datagram: bytes) -> list[Report]:
    """The reports of one datagram (a truncated tail is dropped)."""
    usable = len(datagram) - len(datagram) % _RECORD.size
    return list(_RECORD.iter_unpack(datagram[:usable]))


class Probe:
    """Does the work of each message in this process and reports it to the collector.

    Offers :class:`Recorder`'s ``process``, ``process_async`` and ``record_many``, so a
    contender's consumer code can take either.
    """

    def __init__(self, spec: Spec, address: str) -> None:
        self.spec = spec
        self._address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards _buffer
        self._buffer: list[Report] = []
        self._closed = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="bench-probe", daemon=True)
        self._sender.start()

    def process(self, partition: int, value: bytes | None) -> None:
        """Do the message's work (its CPU work, its sleep), then report it."""
        sequenced = sequence_of(value)
        began = time.monotonic()
        perform(self._plan(partition, sequenced))
        self._report(partition, sequenced, began, time.monotonic())

    async def process_async(self, partition: int, value: bytes | None) -> None:
        """:meth:`process` for asyncio: the sleep is an ``asyncio.sleep``."""
        sequenced = sequence_of(value)
        began = time.monotonic()
        await perform_async(self._plan(partition, sequenced))
        self._report(partition, sequenced, began, time.monotonic())

    def record_many(self, partition: int, count: int, values: Sequence[bytes | None] = ()) -> None:
        """``count`` messages of ``partition`` finished (a batch that cost nothing)."""
        now = time.monotonic()
        for _ in range(count):
            self._report(partition, None, now, now)

    def flush(self) -> None:
        """Send what is buffered now (the sender thread does so every FLUSH_INTERVAL)."""
        with self._lock:
            reports, self._buffer = self._buffer, []
        for start in range(0, len(reports), BATCH):
            self._socket.sendto(encode(reports[start : start + BATCH]), self._address)

    def close(self) -> None:
        self._closed.set()
        self._sender.join(1.0)
        self.flush()
        self._socket.close()

    def _plan(self, partition: int, sequenced: tuple[int, int] | None) -> Plan:
        return self.spec.plan_for(partition, None if sequenced is None else sequenced[1])

    def _report(
        self, partition: int, sequenced: tuple[int, int] | None, began: float, ended: float
    ) -> None:
        key, sequence = sequenced if sequenced is not None else (-1, 0)
        with self._lock:
            self._buffer.append((self._pid, partition, key, sequence, began, ended))
            full = len(self._buffer) >= BATCH
        if full:
            self.flush()

    def _send_loop(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            try:
                self.flush()
            except OSError:
                return  # the collector is gone: the contender is stopping


_probes: dict[int, Probe] = {}  # by process id; only ever one entry used in a process
_probes_lock = threading.Lock()


def probe() -> Probe:
    """This process's :class:`Probe`, built on first use from ``BENCH_SPEC`` and
    ``BENCH_PROBE`` (set by :meth:`Collector.environment`)."""
    pid = os.getpid()
    found = _probes.get(pid)
    if found is not None:
        return found
    with _probes_lock:
        found = _probes.get(pid)
        if found is None:
            spec = Spec.from_json(os.environ[SPEC_ENV])
            found = _probes[pid] = Probe(spec, os.environ[PROBE_ENV])
        return found


class Collector:
    """The contender process's end: receives the probes' reports and hands them to the
    recorder. Use as a context manager around the processes it serves."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._directory = tempfile.mkdtemp(prefix="bench-probe-")
        self.address = os.path.join(self._directory, "probe.sock")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._socket.bind(self.address)
        self._socket.settimeout(0.1)
        self._stopping = threading.Event()
        self.reports = 0  # written by the collector thread only
        self._thread = threading.Thread(target=self._receive, name="bench-collector", daemon=True)
        self._thread.start()

    def environment(self) -> dict[str, str]:
        """What the processes that report here need in their environment."""
        return {PROBE_ENV: self.address, SPEC_ENV: self._recorder.spec.to_json()}

    def close(self) -> None:
        """Stop receiving (reports sent later are lost) and remove the socket."""
        self._stopping.set()
        self._thread.join(5.0)
        self._socket.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _receive(self) -> None:
        record = self._recorder.record_elsewhere
        while not self._stopping.is_set():
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            for pid, partition, key, sequence, began, ended in decode(datagram):
                sequenced = None if key < 0 else (key, sequence)
                record(partition, sequenced, began, ended, pid)
                self.reports += 1
