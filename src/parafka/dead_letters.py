"""``parafka.DeadLetterQueue``: where a message goes after failing ``max_retries + 1`` times.

The message is produced (key, value and headers kept) with ``parafka-*`` headers naming where
it came from and why it failed; its offset becomes committable only once the broker has
acknowledged it. ``topic=None`` skips such messages without producing them (logged, counted in
``dead_letter_queue.dispatched`` events with ``skipped=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from parafka.errors import ConfigurationError

__all__ = ["HEADER_PREFIX", "DeadLetterQueue", "dead_letter_headers"]

HEADER_PREFIX = "parafka-"


@dataclass(frozen=True, kw_only=True)
class DeadLetterQueue:
    """``app.topic(..., dead_letter_queue=DeadLetterQueue(topic="orders.dlq", max_retries=3))``."""

    topic: str | None
    max_retries: int = 3

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
