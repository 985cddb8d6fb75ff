"""The consumer app of the chaos runs: ``parafka server chaos.app:app``, one process per member,
or ``parafka swarm chaos.app:app --nodes N`` (``chaos.nodes``), N forked processes per member.

Configured by environment variables (``CHAOS_*``, set by ``chaos.runner``). Each processed
message appends a ``P`` line to the process's log before ``consume()`` returns, and the event
bus adds the offsets parafka stores (``S``) and commits (``C``), dead letters (``D``) and
rebalances (``G``) — the format is in ``chaos.records``. Lines are written with one
``os.write`` each on an ``O_APPEND`` descriptor under ``_lock``, the time taken under the lock,
so the file order is the time order.

The log is ``CHAOS_LOG`` for ``parafka server``; a swarm node writes a file of its own
(``chaos.records.process_log_path``). The descriptor is opened at the first line a process
writes, not at import: the swarm's supervisor imports this module and then forks the nodes,
which would otherwise all inherit one descriptor — one file, their lines interleaved, a line
torn by a SIGKILLed node followed by another node's line — and ``_lock``, which is per process,
would not order them. After a fork the child forgets the parent's descriptor
(``os.register_at_fork``).

Threads: ``consume()`` runs on parafka's worker threads, the subscribers on the listener
(offsets, rebalances) or a worker (dead letters). ``_lock`` guards the log and ``_attempts``.

Behaviour knobs:

- ``CHAOS_EXCEPTION_P``: probability that a message's first or second run in this process
  raises (decided by a hash of seed, partition, offset and attempt: reproducible);
- ``CHAOS_SLOW_P`` / ``CHAOS_SLOW_SECONDS``: probability that a message's first run sleeps
  that long (longer than ``max.poll.interval.ms`` in the slow-handler scenario);
- ``CHAOS_DELAY_MS``: every message's run takes this long (a backlog lasts into the faults);
- ``CHAOS_PAUSE_P`` / ``CHAOS_PAUSE_SECONDS``: probability that this process, on its first
  run of a message, calls ``self.pause(message.offset, t)`` (``t`` seeded, up to the seconds)
  and returns; ``CHAOS_SEEK_P``: the same with ``self.seek()``, back to the message itself or
  to the batch's first message (seeded). Logged as ``Z`` (pause) and ``K`` (seek) lines;
- ``CHAOS_ISOLATION``: the consumers' ``isolation.level`` (``read_committed`` for the
  transactional scenario);
- tombstones (``None`` values, the compacted scenario) are processed without a payload;
- poison messages (``"poison": true``) always raise; malformed ones fail to deserialize; both
  go to ``CHAOS_DLQ`` after ``max_retries=2``;
- SIGUSR1: the next message this process handles blocks for ever (an ``H`` line says which),
  for the hanging-handler-at-shutdown scenario;
- SIGUSR2: the next message this process handles runs ``CHAOS_SLOW_SECONDS`` (a ``W`` line),
  for the churn-during-a-slow-batch scenario;
- ``CHAOS_VP``: lanes per partition (0: no virtual partitions), partitioner = key;
- ``CHAOS_MAX_BACKLOG``: parafka's ``max_backlog`` (small: back-pressure pauses all the time);
- ``CHAOS_ASYNC=1``: the handler is ``async def consume`` (runs on parafka's event loop);
- ``CHAOS_PROTOCOL``: ``eager`` | ``cooperative`` | ``consumer`` (KIP-848);
- ``CHAOS_MAX_BUFFERED_BYTES``: parafka's ``max_buffered_bytes`` (the process-wide budget); the
  process then samples ``app.buffered_bytes`` every 10 ms and prints the highest seen, once a
  second, as ``chaos-budget peak=<bytes> available=<bytes>`` to its output
  (``chaos.runner`` checks the bound and that the budget was reached);
- ``CHAOS_DEBUG``: librdkafka ``debug`` contexts (e.g. ``cgrp``), logged to the member's
  ``.out`` file, for investigating a run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import zlib
from types import FrameType
from typing import Any

import parafka
from chaos.records import EntryTag, entry_line, process_log_path

_env = os.environ
_SEED = int(_env.get("CHAOS_SEED", "0"))
_EXCEPTION_P = float(_env.get("CHAOS_EXCEPTION_P", "0"))
_SLOW_P = float(_env.get("CHAOS_SLOW_P", "0"))
_SLOW_SECONDS = float(_env.get("CHAOS_SLOW_SECONDS", "0"))
_DELAY = float(_env.get("CHAOS_DELAY_MS", "0")) / 1000.0
_PAUSE_P = float(_env.get("CHAOS_PAUSE_P", "0"))
_PAUSE_SECONDS = float(_env.get("CHAOS_PAUSE_SECONDS", "0.5"))
_SEEK_P = float(_env.get("CHAOS_SEEK_P", "0"))
_VP = int(_env.get("CHAOS_VP", "0"))
_DLQ = _env.get("CHAOS_DLQ") or None
_BUDGET = int(_env["CHAOS_MAX_BUFFERED_BYTES"]) if _env.get("CHAOS_MAX_BUFFERED_BYTES") else None

#: This process's log descriptor, -1 until its first line (see the module docstring).
_log_fd = -1
_lock = threading.Lock()
#: (partition, offset) -> runs in this process, for messages not finished yet.
_attempts: dict[tuple[int, int], int] = {}
#: (partition, offset) this process paused or sought at already (once each, so it ends).
_steered: set[tuple[int, int]] = set()
_hang_next = threading.Event()
_slow_next = threading.Event()


class InjectedError(Exception):
    """Raised on purpose by the handler (random exceptions, poison messages)."""


def _log() -> int:
    """This process's log descriptor, opened at the first call (with ``_lock`` held)."""
    global _log_fd
    if _log_fd < 0:
        name = multiprocessing.current_process().name
        path = process_log_path(_env["CHAOS_LOG"], name, os.getpid())
        _log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    return _log_fd


def _after_fork() -> None:
    """In a forked child (one thread): the parent's descriptor is not this process's log, and
    a lock some other thread of the parent held at the fork would never be released here."""
    global _log_fd, _lock
    if _log_fd >= 0:
        os.close(_log_fd)
    _log_fd = -1
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def _write(tag: EntryTag, partition: int, offset: int) -> None:
    with _lock:
        os.write(_log(), entry_line(tag, time.monotonic_ns(), partition, offset).encode())


def _chance(*parts: object) -> float:
    """A reproducible number in [0, 1) from the seed and ``parts``."""
    return zlib.crc32(":".join(map(str, (_SEED, *parts))).encode()) / 2**32


def _done(message: parafka.Message) -> None:
    """The handler finished ``message``: log it and forget its attempts (bounded memory)."""
    with _lock:
        _attempts.pop((message.partition, message.offset), None)
    _write("P", message.partition, message.offset)


def _handle(message: parafka.Message) -> float:
    """Run the handler's checks for one message; raise on purpose, or return how long to
    sleep before it counts as processed."""
    partition, offset = message.partition, message.offset
    with _lock:
        attempt = _attempts.get((partition, offset), 0) + 1
        _attempts[(partition, offset)] = attempt
    if _hang_next.is_set():
        _hang_next.clear()
        _write("H", partition, offset)
        threading.Event().wait()
    # Malformed values raise DeserializationError here; tombstones have no payload.
    payload = message.payload if message.value is not None else None
    if isinstance(payload, dict) and payload.get("poison"):
        _write("X", partition, offset)
        raise InjectedError(f"poison message at {partition}:{offset}")
    if attempt <= 2 and _chance("x", partition, offset, attempt) < _EXCEPTION_P:
        _write("X", partition, offset)
        raise InjectedError(f"injected failure at {partition}:{offset}")
    if _slow_next.is_set():
        _slow_next.clear()
        _write("W", partition, offset)
        return _SLOW_SECONDS
    if attempt == 1 and _chance("slow", partition, offset) < _SLOW_P:
        _write("W", partition, offset)
        return _SLOW_SECONDS
    return _DELAY


def _steer(consumer: parafka.Consumer, messages: parafka.Messages, index: int) -> bool:
    """Maybe pause or seek at ``messages[index]`` (seeded, once per message and process);
    True when it did: ``consume()`` returns without processing the rest of the batch."""
    message = messages[index]
    where = (message.partition, message.offset)
    with _lock:
        if where in _steered:
            return False
    draw = _chance("steer", *where)
    if draw < _PAUSE_P:
        with _lock:
            _steered.add(where)
        _write("Z", *where)
        consumer.pause(message.offset, _PAUSE_SECONDS * _chance("pause-for", *where))
        return True
    if draw < _PAUSE_P + _SEEK_P:
        with _lock:
            _steered.add(where)
        _write("K", *where)
        back = _chance("seek-back", *where) < 0.5
        consumer.seek(messages[0].offset if back else message.offset)
        return True
    return False


class ChaosConsumer(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        for index, message in enumerate(messages):
            if (_PAUSE_P or _SEEK_P) and _steer(self, messages, index):
                return
            pause = _handle(message)
            if pause:
                time.sleep(pause)
            _done(message)


class AsyncChaosConsumer(parafka.Consumer):
    """The same handler as ``async def consume`` (``CHAOS_ASYNC=1``): parafka's event loop."""

    async def consume(self, messages: parafka.Messages) -> None:  # type: ignore[override]
        for message in messages:
            pause = _handle(message)
            await asyncio.sleep(pause)
            _done(message)


def _offsets(event: parafka.Event) -> None:
    tag: EntryTag = "S" if event.name == "offsets.stored" else "C"
    offsets: dict[tuple[str, int], int] = event["offsets"]
    for (_topic, partition), offset in offsets.items():
        _write(tag, partition, offset)


def _dead_lettered(event: parafka.Event) -> None:
    if not event["skipped"]:
        _write("D", event["partition"], event["offset"])


def _rebalanced(event: parafka.Event) -> None:
    what = event.name.split(".")[1]
    partitions = ",".join(str(p) for _, p in sorted(event["partitions"])) or "-"
    with _lock:
        os.write(_log(), f"G {time.monotonic_ns()} {what} {partitions}\n".encode())


def _hang(_signum: int, _frame: FrameType | None) -> None:
    _hang_next.set()


def _slow(_signum: int, _frame: FrameType | None) -> None:
    _slow_next.set()


def _sample_budget() -> None:
    """With ``CHAOS_MAX_BUFFERED_BYTES``: the highest ``app.buffered_bytes`` seen, sampled every
    10 ms, printed once a second with what parafka's own buffers may hold (the budget less
    librdkafka's reserve). Its own daemon thread, from ``app.running`` on."""
    peak, printed = 0, time.monotonic()
    while True:
        time.sleep(0.01)
        peak = max(peak, app.buffered_bytes or 0)
        if time.monotonic() - printed >= 1.0:
            printed = time.monotonic()
            # The budget's own figure: no public name gives it apart from diagnostics' text.
            available = app._budget.available if app._budget is not None else 0
            print(f"chaos-budget peak={peak} available={available}", flush=True)


def _running(_event: parafka.Event) -> None:
    threading.Thread(target=_sample_budget, name="chaos-budget", daemon=True).start()


def _log_group_state(stats: str) -> None:
    """With ``CHAOS_DEBUG``: librdkafka's consumer group state, once a second."""
    group = json.loads(stats).get("cgrp", {})
    logging.getLogger("chaos").info("cgrp %s", json.dumps(group, sort_keys=True))


def _kafka() -> dict[str, Any]:
    kafka: dict[str, Any] = {
        "bootstrap.servers": _env["CHAOS_BOOTSTRAP"],
        "auto.commit.interval.ms": 1000,
        "max.poll.interval.ms": int(_env.get("CHAOS_MAX_POLL_MS", "10000")),
    }
    if _env.get("CHAOS_ISOLATION"):
        kafka["isolation.level"] = _env["CHAOS_ISOLATION"]
    protocol = _env.get("CHAOS_PROTOCOL", "eager")
    if protocol == "consumer":
        kafka["group.protocol"] = "consumer"
    else:
        kafka["session.timeout.ms"] = 6000
        kafka["heartbeat.interval.ms"] = 1000
        strategy = "cooperative-sticky" if protocol == "cooperative" else "range"
        kafka["partition.assignment.strategy"] = strategy
    if _env.get("CHAOS_DEBUG"):
        kafka["debug"] = _env["CHAOS_DEBUG"]
        logging.getLogger("parafka.librdkafka").setLevel(logging.DEBUG)
        kafka["statistics.interval.ms"] = 1000
        kafka["stats_cb"] = _log_group_state
    return kafka


signal.signal(signal.SIGUSR1, _hang)
signal.signal(signal.SIGUSR2, _slow)

app = parafka.App(
    kafka=_kafka(),
    group_id=_env["CHAOS_GROUP"],
    concurrency=int(_env.get("CHAOS_CONCURRENCY", "4")),
    max_messages=20,
    shutdown_timeout=float(_env.get("CHAOS_SHUTDOWN_TIMEOUT", "10")),
    max_backlog=int(_env.get("CHAOS_MAX_BACKLOG", "0")),
    pause_timeout=0.2,
    pause_max_timeout=1.0,
    max_buffered_bytes=_BUDGET,
)
app.topic(
    _env["CHAOS_TOPIC"],
    AsyncChaosConsumer if _env.get("CHAOS_ASYNC") == "1" else ChaosConsumer,
    virtual_partitions=(
        parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=_VP) if _VP else None
    ),
    dead_letter_queue=parafka.DeadLetterQueue(topic=_DLQ, max_retries=2) if _DLQ else None,
)
app.monitor.subscribe("offsets.stored", _offsets)
app.monitor.subscribe("offsets.committed", _offsets)
app.monitor.subscribe("dead_letter_queue.dispatched", _dead_lettered)
if _BUDGET is not None:
    app.monitor.subscribe("app.running", _running)
for _name in ("rebalance.assigned", "rebalance.revoked", "rebalance.lost"):
    app.monitor.subscribe(_name, _rebalanced)
