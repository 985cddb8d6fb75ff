"""parafka's exceptions.

::

    ParafkaError
    ├── ConfigurationError      bad settings, raised at configuration/start time
    ├── DeserializationError    a message's value, key or headers could not be deserialized
    ├── SerializationError      a value, key or header to produce could not be turned into bytes
    ├── DeadLetterError         a message could not be sent to its dead letter queue
    ├── UndeliverableError      the broker or client refused a produced message for good
    ├── SecurityError           the broker refused the connection's login or TLS handshake
    │   ├── AuthenticationFailed    (fatal: stops the app; see connection/security.py)
    │   └── SslHandshakeFailed
    └── BrokerError             the local development broker (``parafka broker``)
        ├── BrokerAlreadyRunning
        ├── JavaNotFound
        ├── MavenError
        ├── PortInUse
        └── BrokerStartFailed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

__all__ = [
    "AuthenticationFailed",
    "BrokerAlreadyRunning",
    "BrokerError",
    "BrokerStartFailed",
    "ClientStuck",
    "ConfigurationError",
    "DeadLetterError",
    "DeserializationError",
    "JavaNotFound",
    "MavenError",
    "ParafkaError",
    "PortInUse",
    "SecurityError",
    "SerializationError",
    "SslHandshakeFailed",
    "UndeliverableError",
]


class ParafkaError(Exception):
    """Root of every error parafka raises on purpose."""


class ConfigurationError(ParafkaError):
    """A setting is missing or wrong; the message names the setting."""


class DeserializationError(ParafkaError):
    """``message.payload`` (or ``.key``, ``.headers``) failed; ``message.value`` (``.raw_key``,
    ``.raw_headers``) keeps the raw bytes. ``part``: which part failed, ``"value"``, ``"key"``
    or ``"headers"``."""

    def __init__(self, message: object, reason: str, *, part: str = "value") -> None:
        where = ""
        topic, partition, offset = (
            getattr(message, a, None) for a in ("topic", "partition", "offset")
        )
        if topic is not None:
            where = f" ({topic}/{partition} offset {offset})"
        what = "the message" if part == "value" else f"the {part} of the message"
        super().__init__(f"cannot deserialize {what}{where}: {reason}")
        self.message = message
        self.reason = reason
        self.part = part


class SerializationError(ParafkaError, TypeError):
    """A value, key or header given to ``produce()`` could not be turned into bytes; raised
    before anything is produced. A ``TypeError`` too (a value of the wrong type)."""


class DeadLetterError(ParafkaError):
    """A message's dead letter could not be produced. The app's critical error when it never
    can be and ``DeadLetterQueue(on_undeliverable="stop")``; ``__cause__`` says why."""


class UndeliverableError(ParafkaError):
    """A produced message was refused for good: sending it again can never succeed.

    Raised by the app's shared producer (dead letters, ``Consumer.produce``) for permanent
    failures only, e.g. a message larger than the topic or the producer accepts. Any other
    produce failure is raised as ``confluent_kafka.KafkaException`` (or ``TimeoutError``) and
    may succeed later. ``topic``: where it was going; ``error``: librdkafka's
    ``confluent_kafka.KafkaError``; ``reason``: why it is permanent, in words.
    """

    def __init__(self, topic: str, error: KafkaError, reason: str) -> None:
        super().__init__(
            f"cannot produce to {topic!r}: {reason} ({error.name()}: {error.str()}); "
            "sending it again would fail the same way"
        )
        self.topic = topic
        self.error = error
        self.reason = reason


class SecurityError(ParafkaError):
    """A connection's security settings do not work with the broker; the app stops."""


class AuthenticationFailed(SecurityError):
    """The broker refused the SASL login (wrong user, password or mechanism)."""


class SslHandshakeFailed(SecurityError):
    """The TLS handshake failed (e.g. the broker's certificate is not signed by a trusted CA)."""


class ClientStuck(ParafkaError):
    """librdkafka's client stopped making progress: its final commit and close did not return
    within ``close_timeout`` (the client is abandoned), or it stayed out of its consumer group
    (the listener replaces it). Published as ``error.occurred``; nothing is lost."""


class BrokerError(ParafkaError):
    """The local development broker could not be prepared, started or stopped."""


class BrokerAlreadyRunning(BrokerError):
    """A broker with this name already runs; ``bootstrap`` is its address."""

    def __init__(self, name: str, bootstrap: str, pid: int) -> None:
        super().__init__(f"broker {name!r} already runs at {bootstrap} (pid {pid})")
        self.name = name
        self.bootstrap = bootstrap
        self.pid = pid


class JavaNotFound(BrokerError):
    """No usable Java runtime (missing, or older than the broker needs)."""


class MavenError(BrokerError):
    """Maven is missing or could not resolve the broker's jars."""


class PortInUse(BrokerError):
    """A port asked for is already taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        super().__init__(
            f"port {port} ({what}) on 127.0.0.1 is already in use; "
            "pick another one or leave it out to choose a free port automatically"
        )
        self.port = port


class BrokerStartFailed(BrokerError):
    """The broker process exited or never became ready; the message ends with its log tail."""
