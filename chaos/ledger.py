"""The producer: an idempotent ``confluent_kafka.Producer`` feeding a topic at a steady rate and
writing every message the broker acknowledged to the ledger file.

Threads: :meth:`LedgerProducer.start` runs one thread (``chaos-producer``) that produces and
serves delivery reports (``poll``); the ledger is written only from delivery callbacks, which
run on that thread. :meth:`stop` (any thread) ends production and waits for the outstanding
acknowledgements.

With ``transactional_id`` the producer is transactional: messages go out in transactions of
10-60 (seeded), each committed or — with probability ``abort_rate`` — aborted. Delivery reports
of a transaction are held until it ends; the ledger then gets its messages as ``ok`` with the
time of the commit (when a read_committed consumer can see them), or as ``aborted``. Before
either end the producer is flushed: an abort purges what is not sent yet, and the aborted
records must be in the log (leaving gaps for the consumers) to prove anything.

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

from confluent_kafka import KafkaError, KafkaException, Message, Producer

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
        transactional_id: str | None = None,
        abort_rate: float = 0.0,
        padding: int = 0,
    ) -> None:
        self.topic = topic
        #: Characters of filler in each value (``"p"``), for scenarios that need large messages.
        self._padding = "x" * padding
        self._rate = rate
        self._keys = keys
        self._poison_rate = poison_rate
        self._malformed_rate = malformed_rate
        self._random = random.Random(seed)
        self._seq = [0] * keys
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            # Long enough to outlive every broker fault of a scenario: nothing acknowledged
            # is given up, and nothing is given up that the broker might still write.
            "message.timeout.ms": 300_000,
            "logger": _LOG,
        }
        self._transactional = transactional_id is not None
        if transactional_id is not None:
            config["transactional.id"] = transactional_id
            config["transaction.timeout.ms"] = 60_000
            config["message.timeout.ms"] = 60_000  # at most the transaction timeout
        self._abort_rate = abort_rate
        self._producer = Producer(config)
        # Producer thread only: the open transaction's delivered messages, messages it still
        # takes, and the counts of transactions ended.
        self._pending: list[Acked] = []
        self._in_transaction = False
        self._transaction_left = 0
        self.committed_transactions = 0
        self.aborted_transactions = 0
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
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        remaining = self._producer.flush(max(1.0, timeout))
        os.close(self._ledger_fd)
        self._ledger_fd = -1
        if remaining:
            self.failed.append(f"{remaining} messages neither acknowledged nor failed")

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:  # noted, not raised into a thread that dies silently
            _LOG.exception("chaos producer failed")
            self.failed.append(f"producer thread: {type(exc).__name__}: {exc}")

    def _produce(self) -> None:
        if self._transactional:
            self._producer.init_transactions(30.0)
        started = time.monotonic()
        while not self._stopping.is_set():
            due = int((time.monotonic() - started) * self._rate)
            while self.sent < due and not self._stopping.is_set():
                if self._transactional and not self._in_transaction:
                    self._producer.begin_transaction()
                    self._in_transaction = True
                    self._transaction_left = self._random.randint(10, 60)
                self._send()
                if self._transactional:
                    self._transaction_left -= 1
                    if self._transaction_left <= 0:
                        self._end_transaction()
            self._producer.poll(0.01)
        if self._in_transaction:
            self._end_transaction()

    def _end_transaction(self) -> None:
        """Commit or (seeded) abort the open transaction, then write its messages."""
        abort = self._random.random() < self._abort_rate
        # Every message sent and reported first: an abort would purge unsent ones.
        remaining = self._producer.flush(60.0)
        if remaining:
            self.failed.append(f"{remaining} messages of a transaction not delivered in 60 s")
        if not abort:
            try:
                self._producer.commit_transaction(60.0)
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.txn_requires_abort()):
                    raise
                _LOG.warning("commit failed, aborting: %s", error)
                abort = True
        if abort:
            self._producer.abort_transaction(60.0)
            self.aborted_transactions += 1
        else:
            self.committed_transactions += 1
        now = time.monotonic_ns()
        for record in self._pending:
            if abort:
                record = Acked(
                    record.t, record.partition, record.offset, record.key, record.seq, "aborted"
                )
            else:
                record = Acked(
                    now, record.partition, record.offset, record.key, record.seq, record.kind
                )
            os.write(self._ledger_fd, acked_line(record).encode())
        self._pending.clear()
        self._in_transaction = False

    def _send(self) -> None:
        key_index = self._random.randrange(self._keys)
        seq = self._seq[key_index]
        self._seq[key_index] += 1
        key = f"k{key_index}"
        draw = self._random.random()
        kind: Kind = "ok"
        fields: dict[str, Any] = {"k": key, "s": seq}
        if self._padding:
            fields["p"] = self._padding
        value: bytes = json.dumps(fields).encode()
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
            self.acked += 1
            if self._transactional:
                self._pending.append(record)  # written when the transaction ends
            else:
                os.write(self._ledger_fd, acked_line(record).encode())

        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                self._producer.poll(0.1)
        self.sent += 1

    def prepare(self) -> None:
        """Nothing to write before the members start (see ``chaos.backlog``)."""

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed[:5],
        }
        if self._transactional:
            described["committed_transactions"] = self.committed_transactions
            described["aborted_transactions"] = self.aborted_transactions
        return described
