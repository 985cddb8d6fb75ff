"""The producer: an idempotent ``confluent_kafka.Producer`` feeding a topic at a steady rate and
writing every message the broker acknowledged to the ledger file.

Threads: :meth:`LedgerProducer.start` runs one thread (``chaos-producer``) that produces and
serves delivery reports (``poll``); the ledger is written only from delivery callbacks, which
run on that thread. :meth:`stop` (any thread) ends production and waits for the outstanding
acknowledgements.

Message values are JSON ``{"k": key, "s": seq}`` (``"poison": true`` for a poison message; the
bytes ``b"\\xffmalformed"`` for a malformed one); keys are ``k0`` ... ``k<keys-1>`` and ``seq``
counts per key, so each key's messages are ordered in the ledger too.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from chaos.records import Acked, Kind, acked_line

__all__ = ["LedgerProducer"]

_LOG = logging.getLogger("chaos.producer")
_LOG.addHandler(logging.NullHandler())


class LedgerProducer:
    """Produce ``rate`` messages a second over ``keys`` keys until :meth:`stop`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        ledger: Path,
        *,
        seed: int,
        rate: float,
        keys: int = 40,
        poison_rate: float = 0.0,
        malformed_rate: float = 0.0,
    ) -> None:
        self.topic = topic
        self._rate = rate
        self._keys = keys
        self._poison_rate = poison_rate
        self._malformed_rate = malformed_rate
        self._random = random.Random(seed)
        self._seq = [0] * keys
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                # Long enough to outlive every broker fault of a scenario: nothing acknowledged
                # is given up, and nothing is given up that the broker might still write.
                "message.timeout.ms": 300_000,
                "logger": _LOG,
            }
        )
        # Written by the producer thread only (delivery callbacks run inside its poll()).
        self._ledger_fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.sent = 0
        self.acked = 0
        self.failed: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Stop producing; wait (bounded) until every message sent is acknowledged or failed.
        Idempotent."""
        if self._ledger_fd < 0:
            return
        self._stopping.set()
        self._thread.join(timeout)
        remaining = self._producer.flush(max(1.0, timeout))
        os.close(self._ledger_fd)
        self._ledger_fd = -1
        if remaining:
            self.failed.append(f"{remaining} messages neither acknowledged nor failed")

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stopping.is_set():
            due = int((time.monotonic() - started) * self._rate)
            while self.sent < due and not self._stopping.is_set():
                self._send()
            self._producer.poll(0.01)

    def _send(self) -> None:
        key_index = self._random.randrange(self._keys)
        seq = self._seq[key_index]
        self._seq[key_index] += 1
        key = f"k{key_index}"
        draw = self._random.random()
        kind: Kind = "ok"
        value: bytes = json.dumps({"k": key, "s": seq}).encode()
        if draw < self._poison_rate:
            kind = "poison"
            value = json.dumps({"k": key, "s": seq, "poison": True}).encode()
        elif draw < self._poison_rate + self._malformed_rate:
            kind = "malformed"
            value = b"\xffmalformed"

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.failed.append(str(error))
                return
            record = Acked(
                time.monotonic_ns(),
                message.partition() or 0,
                message.offset() or 0,
                key,
                seq,
                kind,
            )
            os.write(self._ledger_fd, acked_line(record).encode())
            self.acked += 1

        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                self._producer.poll(0.1)
        self.sent += 1

    def describe(self) -> dict[str, Any]:
        return {"sent": self.sent, "acked": self.acked, "failed": self.failed[:5]}
