"""The compacted scenario's feed: a backlog written and compacted before the members start.

A topic with ``cleanup.policy=compact`` and segments that roll after 100 ms gets ``rounds``
rounds of messages, each round in segments of its own: the first writes every key, the later
ones a seeded share of the keys (``rewrite``), some of them as a tombstone (a ``None`` value:
a delete). So the last record of a key lies in any round and the survivors of compaction have
gaps all along the partition, not only at its start. One closing message per partition ends
the last round's segments, so that they are cleanable too. The log cleaner (every 0.5 s on the
chaos brokers, ``BROKER_SETTINGS``) then removes every record a later one of its key replaced.
:meth:`CompactedBacklog.prepare` waits (bounded) until every partition has gaps and two reads
in a row agree, and writes what survived — read back with a plain consumer —
to the ledger: those are the messages the members must process. Nothing is written after, so
nothing is compacted away under the members (tombstones stay: ``delete.retention.ms`` is an
hour).

Threads: everything runs on the caller's thread (the runner's), before the members start.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from chaos.records import Acked, acked_line
from parafka.testing import end_offsets

__all__ = ["BROKER_SETTINGS", "TOPIC_CONFIG", "CompactedBacklog"]

_LOG = logging.getLogger("chaos.backlog")
_LOG.addHandler(logging.NullHandler())

TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "3600000",
}
#: For the chaos brokers: the log cleaner looks for work every 0.5 s (default 15 s).
BROKER_SETTINGS = {"log.cleaner.backoff.ms": "500"}
_ROLL_PAUSE = 0.3  # longer than segment.ms: the next append starts a new segment


class CompactedBacklog:
    """Write, compact and read back a keyed backlog (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        ledger: Path,
        *,
        seed: int,
        partitions: int,
        keys: int = 700,
        rounds: int = 3,
        rewrite: float = 0.6,
        delete_rate: float = 0.2,
        timeout: float = 60.0,
    ) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self._ledger = ledger
        self._random = random.Random(seed)
        self._partitions = partitions
        self._keys = keys
        self._rounds = rounds
        self._rewrite = rewrite
        self._delete_rate = delete_rate
        self._timeout = timeout
        self.failed: list[str] = []
        self.written = 0
        self.tombstones = 0
        self.survivors = 0
        self.compaction_seconds = 0.0

    def prepare(self) -> None:
        """Write the backlog, wait for the cleaner, write the survivors to the ledger."""
        self._write()
        began = time.monotonic()
        survivors = self._wait_for_compaction()
        self.compaction_seconds = time.monotonic() - began
        self.survivors = len(survivors)
        now = time.monotonic_ns()
        with self._ledger.open("w") as ledger:
            for partition, offset, key, seq in survivors:
                ledger.write(acked_line(Acked(now, partition, offset, key, seq, "ok")))

    def start(self) -> None:
        """Nothing runs during the faults: the backlog is all there is."""

    def stop(self, timeout: float = 0.0) -> None:
        """Nothing to stop."""

    def describe(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "tombstones": self.tombstones,
            "survivors": self.survivors,
            "compaction_seconds": round(self.compaction_seconds, 1),
            "failed": self.failed[:5],
        }

    def _write(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self._bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "logger": _LOG,
            }
        )
        errors: list[str] = []

        def delivered(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                errors.append(str(error))

        def send(key: str, value: bytes | None, partition: int = -1) -> None:
            while True:
                try:
                    producer.produce(
                        self.topic, value, key, partition=partition, on_delivery=delivered
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
            self.written += 1

        for round_ in range(self._rounds):
            for index in range(self._keys):
                key = f"k{index}"
                if round_ and self._random.random() >= self._rewrite:
                    continue
                if round_ and self._random.random() < self._delete_rate:
                    self.tombstones += 1
                    send(key, None)
                else:
                    send(key, json.dumps({"k": key, "s": round_}).encode())
            if producer.flush(30.0):
                raise RuntimeError(f"{self.topic}: round {round_} not acknowledged in 30 s")
            time.sleep(_ROLL_PAUSE)
        for partition in range(self._partitions):  # closes the last round's segments
            send(f"close{partition}", json.dumps({"k": "close", "s": 0}).encode(), partition)
        if producer.flush(30.0) or errors:
            raise RuntimeError(f"{self.topic}: backlog not written: {errors[:3]}")

    def _wait_for_compaction(self) -> list[tuple[int, int, str, int]]:
        deadline = time.monotonic() + self._timeout
        previous: list[tuple[int, int, str, int]] | None = None
        while True:
            ends = end_offsets(self._bootstrap, self.topic)
            found = self._read_back(ends, deadline)
            per_partition = {p: 0 for p in ends}
            for partition, *_ in found:
                per_partition[partition] += 1
            gapped = all(per_partition[p] < end for p, end in ends.items())
            if gapped and found == previous:
                return found
            previous = found
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.topic}: not compacted within {self._timeout:.0f} s"
                    f" (records per partition {per_partition}, end offsets {ends};"
                    " is the broker's log cleaner running?)"
                )
            time.sleep(1.0)

    def _read_back(self, ends: dict[int, int], deadline: float) -> list[tuple[int, int, str, int]]:
        """Every record of the topic, read by a plain consumer from the beginning to ``ends``."""
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"{self.topic}-read-back",
                "enable.auto.commit": False,
                "logger": _LOG,
            }
        )
        try:
            consumer.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p, end in ends.items() if end]
            )
            found = []
            position = {p: 0 for p in ends}
            while any(position[p] < end for p, end in ends.items()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.topic}: read back not done (at {position})")
                for message in consumer.consume(500, 1.0):
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            raise RuntimeError(f"{self.topic}: read back: {error}")
                        continue
                    partition, offset = message.partition() or 0, message.offset() or 0
                    position[partition] = offset + 1
                    raw_key = message.key()
                    key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
                    value = message.value()
                    seq = -1 if value is None else int(json.loads(value)["s"])
                    found.append((partition, offset, key, seq))
            return sorted(found)
        finally:
            consumer.close()
