"""The app's shared producer: thread-safe ``send`` that waits for the broker's acknowledgement.

Threads: any worker calls :meth:`SharedProducer.send`; one daemon thread
(``parafka-producer``) serves delivery reports with ``poll()``; :meth:`close` (app shutdown)
flushes. Each send resolves its own ``Future`` from the delivery callback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from parafka.config import mask_secrets
from parafka.errors import ConfigurationError

__all__ = ["SharedProducer", "producer_config"]

#: Consumer-only librdkafka settings, left out of the producer's configuration.
_CONSUMER_ONLY = (
    "group.",
    "auto.offset.reset",
    "auto.commit.",
    "enable.auto.",
    "fetch.",
    "max.poll.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "partition.assignment.strategy",
    "enable.partition.eof",
    "queued.",
    "isolation.level",
    "check.crcs",
    "consume.callback.max.messages",
    "max.partition.fetch.bytes",
)


def producer_config(kafka: Mapping[str, Any]) -> dict[str, Any]:
    """The app's connection and security settings, without consumer-only ones; idempotent."""
    config = {key: value for key, value in kafka.items() if not key.startswith(_CONSUMER_ONLY)}
    config.setdefault("enable.idempotence", True)
    config.setdefault("linger.ms", 5)
    config.setdefault("message.timeout.ms", 30_000)
    return config


class SharedProducer:
    """One ``confluent_kafka.Producer`` for the whole app, with its poll thread."""

    def __init__(self, kafka: Mapping[str, Any], logger: logging.Logger | None = None) -> None:
        config = producer_config(kafka)
        if logger is not None and "logger" not in config:
            config["logger"] = logger
        try:
            self._producer = confluent_kafka.Producer(config)
        except (KafkaException, ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"the app's producer rejected its configuration ({mask_secrets(config)}): {exc}"
            ) from None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="parafka-producer", daemon=True)
        self._thread.start()

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Produce one message and return once the broker acknowledged it; raise otherwise."""
        done: Future[None] = Future()

        def delivered(error: KafkaError | None, _message: object) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(KafkaException(error))

        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=list(headers or []),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                if self._stopping.wait(0.05):
                    raise KafkaException("the producer is closing") from None
        done.result(timeout)

    async def send_async(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Like :meth:`send`, awaiting the ack on the running event loop instead of blocking."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: KafkaError | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(KafkaException(error))

        def delivered(error: KafkaError | None, _message: object) -> None:
            loop.call_soon_threadsafe(settle, error)  # runs on the poll thread

        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers or []), on_delivery=delivered
                )
                break
            except BufferError:
                if self._stopping.is_set():
                    raise KafkaException("the producer is closing") from None
                await asyncio.sleep(0.05)
        await done

    def close(self, timeout: float) -> int:
        """Flush what is queued (at most ``timeout`` s) and stop; returns undelivered count."""
        remaining = self._producer.flush(timeout)
        self._stopping.set()
        self._thread.join(1.0)
        return remaining

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)
