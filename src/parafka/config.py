"""Settings of an :class:`~parafka.App` and the librdkafka configuration parafka builds.

Everything here is validated when the app is created, on the caller's thread, and raises
:class:`~parafka.ConfigurationError` naming the setting. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parafka.errors import ConfigurationError

__all__ = [
    "COMMIT_INTERVAL_KEY",
    "MANAGED_KAFKA_KEYS",
    "Settings",
    "commit_interval",
    "mask_secrets",
    "validate_kafka",
]

#: librdkafka settings parafka sets itself; users setting them would break its guarantees.
MANAGED_KAFKA_KEYS: Mapping[str, str] = {
    "group.id": "use App(group_id=...) or app.consumer_group(name)",
    "enable.auto.offset.store": "parafka stores offsets only once work is finished",
    "enable.auto.commit": "parafka commits finished work itself, every auto.commit.interval.ms",
    "auto.commit.enable": "parafka commits finished work itself, every auto.commit.interval.ms",
}

#: How often (milliseconds) a listener commits the commit points that changed; parafka's
#: default is 1000, so a crash repeats about a second of work.
COMMIT_INTERVAL_KEY = "auto.commit.interval.ms"
_MAX_COMMIT_INTERVAL_MS = 86_400_000

_SECRET_MARKERS = ("password", "secret", "private.key", "key.pem", "oauthbearer.config", "token")


def is_secret(key: str) -> bool:
    """True for librdkafka keys whose values must never be shown."""
    return any(marker in key.lower() for marker in _SECRET_MARKERS)


def mask_secret_values(text: str, config: Mapping[str, Any]) -> str:
    """``text`` (e.g. librdkafka's error) with every secret value of ``config`` shown as ``***``."""
    for key, value in config.items():
        if is_secret(key) and str(value):
            text = text.replace(str(value), "***")
    return text


def mask_secrets(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value replaced by ``'***'``."""
    return {key: ("***" if is_secret(key) else value) for key, value in config.items()}


def validate_kafka(kafka: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check user librdkafka settings; ``where`` names them in errors (``'App(kafka=...)'``)."""
    if not isinstance(kafka, Mapping):
        raise ConfigurationError(f"{where} must be a dict of librdkafka settings")
    config = dict(kafka)
    for key, value in config.items():
        if not isinstance(key, str):
            raise ConfigurationError(f"{where}: setting names must be strings, got {key!r}")
        if key in MANAGED_KAFKA_KEYS:
            raise ConfigurationError(
                f"{where}: {key!r} is managed by parafka and cannot be set "
                f"({MANAGED_KAFKA_KEYS[key]})"
            )
        if value is None:
            raise ConfigurationError(f"{where}: {key!r} is None; leave it out instead")
    if COMMIT_INTERVAL_KEY in config:
        commit_interval(config, where)
    return config


def commit_interval(config: Mapping[str, Any], where: str, default_ms: int = 1000) -> float:
    """``auto.commit.interval.ms`` of ``config`` in seconds (``default_ms`` when unset).

    A whole number of milliseconds from 1 to 86,400,000, as an int or a string of digits
    (settings read from the environment are strings); anything else (0, which turns
    librdkafka's auto-commit off, included: parafka always commits) is a
    :class:`ConfigurationError` naming the setting.
    """
    value = config.get(COMMIT_INTERVAL_KEY, default_ms)
    milliseconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        milliseconds = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        milliseconds = int(value.strip())
    if milliseconds is None or not 0 < milliseconds <= _MAX_COMMIT_INTERVAL_MS:
        raise ConfigurationError(
            f"{where}: {COMMIT_INTERVAL_KEY!r} must be a whole number of milliseconds from 1 "
            f"to {_MAX_COMMIT_INTERVAL_MS} (librdkafka's limit), got {value!r}"
        )
    return milliseconds / 1000.0


def _positive_number(name: str, value: object, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if value <= minimum:
        raise ConfigurationError(f"{name} must be > {minimum:g}, got {value!r}")
    return float(value)


def _seconds(name: str, value: object) -> float:
    """A duration that may be 0 (off)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ConfigurationError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The app-wide processing settings (see the README's configuration table)."""

    concurrency: int = 5
    max_messages: int = 100
    max_wait_time: float = 0.0  # 0: a partial batch leaves at once
    shutdown_timeout: float = 60.0
    close_timeout: float = 10.0
    rejoin_timeout: float | None = None  # None: max.poll.interval.ms + session.timeout.ms + 10 s
    pause_timeout: float = 1.0
    pause_max_timeout: float = 30.0
    max_backlog: int = 0  # 0: max(10 * max_messages, 2000)
    max_backlog_bytes: int = 4 * 1024 * 1024  # per partition, keys and values
    max_buffered_bytes: int | None = None  # process-wide, all fetched unfinished messages
    poll_interval: float = 0.05
    critical_errors: tuple[type[BaseException], ...] = ()
    watchdog_interval: float | None = 60.0  # None: no watchdog

    def __post_init__(self) -> None:
        _count("concurrency", self.concurrency)
        _count("max_messages", self.max_messages)
        _seconds("max_wait_time", self.max_wait_time)
        _positive_number("shutdown_timeout", self.shutdown_timeout)
        _positive_number("close_timeout", self.close_timeout)
        if self.rejoin_timeout is not None:
            _positive_number("rejoin_timeout", self.rejoin_timeout)
        _positive_number("pause_timeout", self.pause_timeout)
        _positive_number("pause_max_timeout", self.pause_max_timeout)
        _positive_number("poll_interval", self.poll_interval)
        _count("max_backlog", self.max_backlog, minimum=0)
        _count("max_backlog_bytes", self.max_backlog_bytes)
        if self.max_buffered_bytes is not None:
            _count("max_buffered_bytes", self.max_buffered_bytes)
        if self.watchdog_interval is not None:
            if isinstance(self.watchdog_interval, bool) or not isinstance(
                self.watchdog_interval, int | float
            ):
                raise ConfigurationError(
                    f"watchdog_interval must be a number of seconds, or None to turn the "
                    f"watchdog off, got {self.watchdog_interval!r}"
                )
            _positive_number("watchdog_interval", self.watchdog_interval)
        for error in self.critical_errors:
            if not (isinstance(error, type) and issubclass(error, BaseException)):
                raise ConfigurationError(
                    f"critical_errors must be exception classes, got {error!r}"
                )
        if self.pause_max_timeout < self.pause_timeout:
            raise ConfigurationError(
                f"pause_max_timeout ({self.pause_max_timeout}) must be >= pause_timeout "
                f"({self.pause_timeout})"
            )
        if self.shutdown_timeout < self.max_wait_time:
            raise ConfigurationError(
                f"shutdown_timeout ({self.shutdown_timeout}) must be >= max_wait_time "
                f"({self.max_wait_time})"
            )

    def with_pauses(
        self, topic: str, pause_timeout: float | None, pause_max_timeout: float | None
    ) -> tuple[float, float]:
        """A route's back-off bounds: its own, else the app's (checked like the app's)."""
        first = (
            self.pause_timeout
            if pause_timeout is None
            else _positive_number(f"topic {topic!r} pause_timeout", pause_timeout)
        )
        most = (
            self.pause_max_timeout
            if pause_max_timeout is None
            else _positive_number(f"topic {topic!r} pause_max_timeout", pause_max_timeout)
        )
        if most < first:
            raise ConfigurationError(
                f"topic {topic!r}: pause_max_timeout ({most}) must be >= pause_timeout ({first})"
            )
        return first, most

    @property
    def backlog_limit(self) -> int:
        """Fetched-but-not-dispatched messages per partition before it is paused at the broker."""
        return self.max_backlog or max(10 * self.max_messages, 2000)

    def byte_limit(self, message_size: int, count_limit: int) -> int:
        """The backlog limit in messages for a partition whose messages are ``message_size``
        bytes on average: ``count_limit``, lowered so the backlog stays within
        ``max_backlog_bytes`` (but never below one batch of ``max_messages``)."""
        if message_size <= 0:
            return count_limit
        return min(count_limit, max(self.max_messages, self.max_backlog_bytes // message_size))

    @property
    def fetch_messages(self) -> int:
        """Messages one ``consume()`` call may return: several partitions' batches at once, so
        that small ``max_messages`` do not cap how fast the listener can feed the workers."""
        return max(self.max_messages, 500)

    @property
    def fetch_timeout(self) -> float:
        """How long one ``consume()`` call may block: short, so the listener stays responsive.

        Not tied to ``max_wait_time``: that is how long a partial batch waits in its lane's
        backlog (the coordinator's rule), not how long the client waits for the broker."""
        return self.poll_interval
