"""``parafka.Consumer``: the base class users subclass to process a topic's messages.

One instance per (consumer group, topic, partition), created on a worker thread the first time
the partition has work, kept across batches until the partition is revoked or the app stops.
parafka never calls one instance from two threads at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parafka.messages import Message, Messages

if TYPE_CHECKING:
    from parafka.processing.jobs import ConsumeJob

__all__ = ["Consumer"]


class Consumer:
    """Subclass and implement :meth:`consume`. ``topic`` and ``partition`` are set before
    :meth:`initialized` runs. Subclasses must be constructible without arguments."""

    topic: str
    partition: int
    #: The job being processed; set by parafka around each ``consume()`` call.
    _parafka_job: ConsumeJob | None = None

    def consume(self, messages: Messages) -> None:
        """Process one batch (one partition, offset order). Raising retries it later."""
        raise NotImplementedError(f"{type(self).__name__} must implement consume(messages)")

    def initialized(self) -> None:
        """Called once, on a worker thread, before the first ``consume()``."""

    def revoked(self) -> None:
        """Called once when the partition is taken away (after any running ``consume()``)."""

    def shutdown(self) -> None:
        """Called once when the app stops (after any running ``consume()``)."""

    def mark_as_consumed(self, message: Message) -> bool:
        """Mark ``message`` and the messages before it in this batch as processed.

        Returns False when the partition is no longer this process's (nothing is marked then).
        Only valid inside ``consume()``; a successful ``consume()`` marks its whole batch unless
        the topic uses ``manual_offset_management=True``.
        """
        job = self._parafka_job
        if job is None:
            raise RuntimeError("mark_as_consumed() is only valid inside consume()")
        return job.mark(message.offset)
