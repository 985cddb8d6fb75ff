"""``parafka.DeadLetterQueue``: where a message goes after failing ``max_retries + 1`` times.

The message is produced (key, value and headers kept) with ``parafka-*`` headers naming where
it came from and why it failed; its offset becomes committable only once the broker has
acknowledged it. ``topic=None`` skips such messages without producing them (logged, counted in
``dead_letter_queue.dispatched`` events with ``skipped=True``).

When the dead letter cannot be produced:

- **retriable** failures (the broker is away, an ACL is missing, the DLQ topic does not exist
  yet, the producer had a fatal error and was re-created): the lane backs off (``pause_timeout``
  doubling to ``pause_max_timeout``) and sends it again, with an ``error.occurred`` event of type
  ``dead_letter_queue.produce`` for every failed attempt. Nothing is committed past it meanwhile.
- **permanent** failures (:class:`~parafka.errors.UndeliverableError`: e.g. larger than the DLQ
  topic's ``max.message.bytes``): ``on_undeliverable`` decides. ``"stop"`` (default): the app
  stops with a critical error (a :class:`~parafka.errors.DeadLetterError` naming the message,
  ``app.critical_error``, exit status 1); nothing is committed past the message, so it is
  processed again after a restart. ``"skip"``: the message is skipped and its offset becomes
  committable, with a ``dead_letter_queue.dispatched`` event carrying ``skipped=True`` and the
  produce error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parafka.errors import ConfigurationError, DeadLetterError, UndeliverableError

__all__ = [
    "HEADER_PREFIX",
    "ON_UNDELIVERABLE",
    "DeadLetterQueue",
    "OnUndeliverable",
    "dead_letter_headers",
    "undeliverable_dead_letter",
]

OnUndeliverable = Literal["stop", "skip"]
#: The values ``DeadLetterQueue(on_undeliverable=...)`` accepts.
ON_UNDELIVERABLE: tuple[OnUndeliverable, ...] = ("stop", "skip")

HEADER_PREFIX = "parafka-"


@dataclass(frozen=True, kw_only=True)
class DeadLetterQueue:
    """``app.topic(..., dead_letter_queue=DeadLetterQueue(topic="orders.dlq", max_retries=3))``.

    ``on_undeliverable``: what happens when the dead letter can never be produced (see the
    module's docstring): ``"stop"`` the app (default) or ``"skip"`` the message.
    """

    topic: str | None
    max_retries: int = 3
    on_undeliverable: OnUndeliverable = "stop"

    def __post_init__(self) -> None:
        if self.topic is not None and (not isinstance(self.topic, str) or not self.topic.strip()):
            raise ConfigurationError(
                f"DeadLetterQueue(topic=...) must be a topic name or None, got {self.topic!r}"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ConfigurationError(
                f"DeadLetterQueue(max_retries=...) must be an integer >= 0, "
                f"got {self.max_retries!r}"
            )
        if self.on_undeliverable not in ON_UNDELIVERABLE:
            raise ConfigurationError(
                "DeadLetterQueue(on_undeliverable=...) must be 'stop' (the app stops, nothing is "
                "committed past the message) or 'skip' (the message is skipped), "
                f"got {self.on_undeliverable!r}"
            )


def dead_letter_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    group_id: str,
    attempts: int,
    error: BaseException,
) -> list[tuple[str, bytes]]:
    """The headers that say where a dead letter came from and why."""
    fields = {
        "original-topic": topic,
        "original-partition": str(partition),
        "original-offset": str(offset),
        "consumer-group": group_id,
        "attempts": str(attempts),
        "error-type": f"{type(error).__module__}.{type(error).__qualname__}",
        "error-message": str(error)[:2000],
    }
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


def undeliverable_dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    dead_letter_topic: str,
    error: UndeliverableError,
) -> DeadLetterError:
    """The critical error that stops the app under ``on_undeliverable="stop"``; names the
    message and why its dead letter can never be produced (``__cause__`` is ``error``)."""
    stopped = DeadLetterError(
        f"the dead letter of {topic}/{partition} offset {offset} can never be produced to "
        f"{dead_letter_topic!r}: {error.reason} ({error.error.name()}); the app stops and "
        "nothing is committed past it (DeadLetterQueue(on_undeliverable='stop'); "
        "'skip' would skip the message)"
    )
    stopped.__cause__ = error
    return stopped
