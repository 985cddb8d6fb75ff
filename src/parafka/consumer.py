"""``parafka.Consumer``: the base class users subclass to process a topic's messages.

One instance per (consumer group, topic, partition), created on a worker thread the first time
the partition has work, kept across batches until the partition is revoked or the app stops.
parafka never calls one instance from two threads at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parafka.messages import Message, Messages
from parafka.serializers import Headers, Serializer, serialize, serialize_headers

if TYPE_CHECKING:
    from parafka.processing.jobs import ConsumeJob
    from parafka.producing import Sender

__all__ = ["Consumer"]


class Consumer:
    """Subclass and implement :meth:`consume`. ``topic`` and ``partition`` are set before
    :meth:`initialized` runs. Subclasses must be constructible without arguments."""

    topic: str
    partition: int
    #: The job being processed; set by parafka around each ``consume()`` call.
    _parafka_job: ConsumeJob | None = None
    #: The app's shared producer; set by parafka when the instance is created.
    _parafka_producer: Sender | None = None

    def consume(self, messages: Messages[Any]) -> None:
        """Process one batch (one partition, offset order). Raising retries it later.

        May be ``async def``: then it runs on the app's event loop thread, many partitions (and
        lanes) awaiting at once. Inside it, use ``await self.produce_async(...)`` and
        ``mark_as_consumed`` (``produce`` and ``mark_as_consumed_sync`` would block the loop).

        Subclasses may narrow the payload type: ``def consume(self, messages:
        parafka.Messages[Order])`` (the route's deserializer must return ``Order``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement consume(messages)")

    def initialized(self) -> None:
        """Called once, on a worker thread, before the first ``consume()``."""

    def revoked(self) -> None:
        """Called once when the partition is taken away (after any running ``consume()``)."""

    def shutdown(self) -> None:
        """Called once when the app stops (after any running ``consume()``)."""

    def eofed(self) -> None:
        """Called when the partition's end is reached (needs ``enable.partition.eof=true``),
        after every message fetched before it was processed; also on an empty partition."""

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Headers | None = None,
        timeout: float = 60.0,
        *,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> None:
        """Produce a message with the app's shared producer and wait for the broker's ack.

        ``value`` and ``key`` go through ``serializer`` and ``key_serializer`` (e.g.
        ``parafka.json_serializer``); without one they must be bytes, str (sent as UTF-8) or
        None. ``headers``: ``(name, value)`` pairs or a mapping; values str, bytes or None.
        What cannot be sent raises :class:`~parafka.errors.SerializationError` before anything
        is produced. Raises ``KafkaException`` when it was not acknowledged (so ``consume()``
        fails and is retried: at-least-once for what a consumer produces too).
        """
        producer = self._parafka_producer
        if producer is None:
            raise RuntimeError("produce() needs a consumer created by a running parafka.App")
        value_bytes, key_bytes, checked = _encoded(value, key, headers, serializer, key_serializer)
        producer.send(topic, value_bytes, key_bytes, checked, timeout)

    def pause(self, offset: int, timeout: float | None = None) -> bool:
        """Pause this partition; after ``timeout`` seconds (None: the topic's ``pause_timeout``)
        fetch again from ``offset``. Call it inside ``consume()`` and return: messages of the
        batch from ``offset`` on are not marked, and are processed again after the pause.
        Other partitions keep flowing. Dropped if the partition is revoked. False when the
        partition is no longer this process's."""
        job = self._current("pause")
        return job.coordinator.user_pause(offset, timeout, job)

    def resume(self) -> None:
        """End a :meth:`pause` early (fetching restarts once the running batch is done)."""
        self._current("resume").coordinator.user_resume()

    def seek(self, offset: int) -> bool:
        """Fetch this partition from ``offset`` next (forward skips, backward repeats; the
        committed offset follows what is processed from there, so it may move back)."""
        job = self._current("seek")
        return job.coordinator.user_pause(offset, 0.0, job)

    def _current(self, what: str) -> ConsumeJob:
        job = self._parafka_job
        if job is None:
            raise RuntimeError(f"{what}() is only valid inside consume()")
        return job

    async def produce_async(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Headers | None = None,
        *,
        serializer: Serializer | None = None,
        key_serializer: Serializer | None = None,
    ) -> None:
        """:meth:`produce` for ``async def consume``: awaits the broker's ack without blocking
        the event loop. Serializes and checks like :meth:`produce`."""
        producer = self._parafka_producer
        if producer is None:
            raise RuntimeError("produce_async() needs a consumer created by a running parafka.App")
        value_bytes, key_bytes, checked = _encoded(value, key, headers, serializer, key_serializer)
        await producer.send_async(topic, value_bytes, key_bytes, checked)

    def mark_as_consumed(self, message: Message[Any]) -> bool:
        """Mark ``message`` and the messages before it in this batch as processed.

        Returns False when the partition is no longer this process's (nothing is marked then).
        Only valid inside ``consume()``; a successful ``consume()`` marks its whole batch unless
        the topic uses ``manual_offset_management=True``.
        """
        job = self._parafka_job
        if job is None:
            raise RuntimeError("mark_as_consumed() is only valid inside consume()")
        return job.mark(message.offset)

    def mark_as_consumed_sync(self, message: Message[Any], timeout: float = 30.0) -> bool:
        """Like :meth:`mark_as_consumed`, then wait until the listener committed the partition's
        offset to the broker. False when the partition is gone or the commit failed."""
        job = self._parafka_job
        if job is None:
            raise RuntimeError("mark_as_consumed_sync() is only valid inside consume()")
        return job.mark(message.offset) and job.coordinator.commit_now(timeout)


def _encoded(
    value: Any,
    key: Any,
    headers: Headers | None,
    serializer: Serializer | None,
    key_serializer: Serializer | None,
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]:
    """The value, key and headers as bytes, all checked before anything is produced."""
    return (
        serialize(value, serializer, "value"),
        serialize(key, key_serializer, "key"),
        serialize_headers(headers),
    )
