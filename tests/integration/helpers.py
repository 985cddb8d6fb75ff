"""Helpers for integration tests: waiting on conditions, committed offsets, recording consumers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

import parafka

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def read_all(bootstrap: str, topic: str, count: int | Callable[[list[Any]], bool]) -> list[Any]:
    """Read ``topic`` from the start with a group of its own until ``count`` messages came,
    or ``count(messages)`` holds when it is a function (or 30 s passed): the
    ``confluent_kafka.Message`` objects, errors left out."""
    done = count if callable(count) else (lambda found: len(found) >= count)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while not done(found) and time.monotonic() < deadline:
            found.extend(m for m in consumer.consume(10, 0.5) if m.error() is None)
    finally:
        consumer.close()
    return found


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The committed offset of each partition for ``group`` (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        result = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=15
        )
        return {tp.partition: tp.offset for tp in result}
    finally:
        consumer.close()


class Record:
    """Thread-safe log of processed messages: ``offsets[partition]`` in processing order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offsets: dict[int, list[int]] = defaultdict(list)
        self.batches: list[tuple[int, int, str]] = []  # (partition, size, worker thread)

    def add(self, messages: parafka.Messages) -> None:
        with self.lock:
            self.batches.append(
                (messages.partition, len(messages), threading.current_thread().name)
            )
            self.offsets[messages.partition].extend(m.offset for m in messages)

    def count(self) -> int:
        with self.lock:
            return sum(len(offsets) for offsets in self.offsets.values())


def write_transactions(
    bootstrap: str,
    topic: str,
    partitions: int,
    plan: list[tuple[int, bool]],
    value: bytes = b"m",
) -> dict[int, list[int]]:
    """Transactions in ``plan`` order, each ``(messages per partition, commit?)``: committed ones
    become visible, aborted ones leave their records and marker in the log (gaps for a
    read_committed consumer). Messages go round-robin over the partitions. Returns the offsets
    of the committed messages per partition, in offset order."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}", "linger.ms": 5}
    )
    producer.init_transactions(30)
    visible: dict[int, list[int]] = {p: [] for p in range(partitions)}
    for count, commit in plan:
        delivered: list[tuple[int, int]] = []
        producer.begin_transaction()
        for i in range(count * partitions):
            producer.produce(
                topic,
                value=value,
                partition=i % partitions,
                on_delivery=lambda _err, msg, into=delivered: into.append(
                    (msg.partition(), msg.offset())
                ),
            )
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
            for partition, offset in delivered:
                visible[partition].append(offset)
        else:
            producer.abort_transaction(30)
    return {p: sorted(offsets) for p, offsets in visible.items()}


@contextmanager
def running(app: parafka.App) -> Iterator[parafka.App]:
    """Start ``app`` and stop it at the end of the block, asserting the stop was clean."""
    app.start()
    try:
        yield app
    finally:
        clean = app.stop()
    assert clean, "the app did not stop cleanly"


def server(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run ``parafka server tests.integration.apps.recording:app`` in another process."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parafka.cli",
                "server",
                "tests.integration.apps.recording:app",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def recording_env(bootstrap: str, topic: str, group: str, **settings: str) -> dict[str, str]:
    """Environment for ``tests.integration.apps.recording``: ``out="..."`` is RECORDING_OUT,
    ``hang="0:5"`` is RECORDING_HANG, and so on."""
    env = {"RECORDING_BOOTSTRAP": bootstrap, "RECORDING_TOPIC": topic, "RECORDING_GROUP": group}
    env.update({f"RECORDING_{name.upper()}": value for name, value in settings.items()})
    return env


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`server` for the block; killed at the end if it still runs."""
    process = server(env, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def read_record(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]
