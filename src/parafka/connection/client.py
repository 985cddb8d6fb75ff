"""The librdkafka configuration of a listener's ``confluent_kafka.Consumer``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import confluent_kafka

from parafka.config import is_secret, mask_secret_values, mask_secrets
from parafka.connection.security import SecurityErrorCallback
from parafka.errors import ConfigurationError

__all__ = ["LIBRDKAFKA_LOG", "build_client", "client_config", "is_incremental"]

#: parafka's defaults; users may override them.
#: ``fetch.wait.max.ms``: after a partition paused for back-pressure is resumed, librdkafka
#: fetches it again only once its previous fetch request returns, which the broker holds for up
#: to this long when no new data arrives (librdkafka's 500 ms made a resumed partition idle for
#: half a second; measured in the README's benchmarks section).
#: ``topic.metadata.refresh.interval.ms``: a subscribed topic that does not exist yet is picked up
#: within this long once it is created (librdkafka's default is 5 minutes).
#: ``fetch.queue.backoff.ms``: when librdkafka's prefetch queue for a partition passes its
#: thresholds, it stops fetching that partition for this long (1 s by default). parafka drains
#: that queue into its own bounded backlogs at once, so a second of idle fetcher is pure loss: a
#: 1,000,000-message backlog was read at 185,000 msg/s with the default (a fetch every ~1 s)
#: and at 1.3M msg/s with 50 ms (bench/README's overhead workload).
#: ``queued.max.messages.kbytes``: librdkafka's own prefetch queue, which parafka's listener
#: drains into its backlogs (bounded by ``max_backlog_bytes``); 16 MiB instead of 64 MiB keeps
#: the process's memory bounded by the two together (see the README's memory bound).
DEFAULTS: Mapping[str, Any] = {
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 100,
    "topic.metadata.refresh.interval.ms": 10_000,
    "queued.max.messages.kbytes": 16_384,
    "fetch.queue.backoff.ms": 50,
    "auto.commit.interval.ms": 1000,
}


class _Redact(logging.Filter):
    """Replaces known secret values in librdkafka's log lines (debug logs echo settings)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()  # guards _secrets
        self._secrets: set[str] = set()

    def remember(self, config: Mapping[str, Any]) -> None:
        with self._lock:
            self._secrets.update(
                str(value) for key, value in config.items() if is_secret(key) and str(value)
            )

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = list(self._secrets)
        if secrets:
            text = record.getMessage()
            for secret in secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, ()
        return True


#: librdkafka's log lines of parafka's clients go here (unless the user passes ``logger``).
LIBRDKAFKA_LOG = logging.getLogger("parafka.librdkafka")
_REDACT = _Redact()
LIBRDKAFKA_LOG.addFilter(_REDACT)


def client_config(base: Mapping[str, Any], group_id: str) -> dict[str, Any]:
    """User settings plus the ones parafka manages: librdkafka neither stores nor commits
    offsets on its own; the listener commits the offsets of finished work itself."""
    return {
        **DEFAULTS,
        "logger": LIBRDKAFKA_LOG,
        **base,
        "group.id": group_id,
        "enable.auto.offset.store": False,
        "enable.auto.commit": False,
    }


def redact_secrets_of(config: Mapping[str, Any]) -> None:
    """Make librdkafka log lines that pass through parafka's logger hide these secrets."""
    _REDACT.remember(config)


def is_incremental(config: Mapping[str, Any]) -> bool:
    """True for cooperative-sticky and KIP-848 (``group.protocol=consumer``): incremental lists."""
    if str(config.get("group.protocol", "classic")).lower() == "consumer":
        return True
    return "cooperative" in str(config.get("partition.assignment.strategy", "")).lower()


def build_client(config: Mapping[str, Any], where: str) -> confluent_kafka.Consumer:
    """Create the client; librdkafka's rejection of a setting becomes a ConfigurationError.

    Its ``error_cb`` turns a refused login or TLS handshake into a fatal error raised from
    ``consume()`` (see :mod:`parafka.connection.security`); the user's ``error_cb`` still runs.
    """
    redact_secrets_of(config)
    user_callback = config.get("error_cb")
    if user_callback is not None and not callable(user_callback):
        raise ConfigurationError(f"{where}: 'error_cb' must be callable, got {user_callback!r}")
    settings = {**config, "error_cb": SecurityErrorCallback(config, where, user_callback)}
    try:
        return confluent_kafka.Consumer(settings)
    except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
        reason = mask_secret_values(str(exc), config)
        raise ConfigurationError(
            f"{where}: librdkafka rejected the configuration: {reason} "
            f"(settings: {mask_secrets(config)})"
        ) from None
