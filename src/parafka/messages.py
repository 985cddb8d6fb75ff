"""What ``consume()`` receives: :class:`Messages`, a lazy view over a batch of one partition.

Built on a worker thread and used only there. Per-message :class:`Message` objects are created
on access, so a consumer that never iterates pays nothing per message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from parafka.errors import DeserializationError

if TYPE_CHECKING:
    import confluent_kafka

__all__ = [
    "BatchMetadata",
    "Deserializer",
    "Message",
    "Messages",
    "json_deserializer",
    "raw_deserializer",
]

_UNSET: Any = object()


class Message:
    """One Kafka message; ``payload`` is the value deserialized on first access."""

    __slots__ = ("_deserializer", "_payload", "_raw")

    def __init__(self, raw: confluent_kafka.Message, deserializer: Deserializer) -> None:
        self._raw = raw
        self._deserializer = deserializer
        self._payload: Any = _UNSET

    def __repr__(self) -> str:
        return f"Message(topic={self.topic!r}, partition={self.partition}, offset={self.offset})"

    @property
    def topic(self) -> str:
        return self._raw.topic() or ""

    @property
    def partition(self) -> int:
        partition = self._raw.partition()
        return -1 if partition is None else partition

    @property
    def offset(self) -> int:
        offset = self._raw.offset()
        return -1 if offset is None else offset

    @property
    def key(self) -> bytes | None:
        key = self._raw.key()
        return key if key is None or isinstance(key, bytes) else str(key).encode()

    @property
    def value(self) -> bytes | None:
        """The raw bytes of the value (always reachable, even when ``payload`` fails)."""
        value = self._raw.value()
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    @property
    def headers(self) -> list[tuple[str, str | bytes | None]]:
        headers = self._raw.headers()
        if headers is None:
            return []
        return list(headers.items()) if isinstance(headers, dict) else list(headers)

    @property
    def timestamp(self) -> float | None:
        """Seconds since the epoch (the message's create or log-append time), or None."""
        kind, millis = self._raw.timestamp()
        return None if kind == 0 or millis < 0 else millis / 1000.0

    @property
    def payload(self) -> Any:
        """The deserialized value; a deserializer error is raised here, on each access."""
        if self._payload is _UNSET:
            self._payload = self._deserializer(self)
        return self._payload

    @property
    def raw(self) -> confluent_kafka.Message:
        """The underlying ``confluent_kafka.Message``."""
        return self._raw


Deserializer = Callable[[Message], Any]


def json_deserializer(message: Message) -> Any:
    """The default: the value parsed as UTF-8 JSON.

    A missing value (a tombstone), an empty one, invalid UTF-8 or invalid JSON raise
    :class:`~parafka.errors.DeserializationError` (so they go through retries and the dead
    letter queue); ``message.value`` still gives the raw bytes.
    """
    value = message.value
    if value is None:
        raise DeserializationError(message, "the value is None (a tombstone)")
    if not value:
        raise DeserializationError(message, "the value is empty")
    try:
        return json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DeserializationError(message, f"the value is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DeserializationError(message, f"the value is not JSON: {exc}") from exc


def raw_deserializer(message: Message) -> Any:
    """The value's bytes as they are."""
    return message.value


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """Facts about a batch (``messages.metadata``)."""

    topic: str
    partition: int
    size: int
    first_offset: int
    last_offset: int
    #: The partition's end offset as librdkafka last saw it when the batch was fetched.
    high_watermark: int | None
    #: Messages in the partition after this batch (from ``high_watermark``), when known.
    lag: int | None
    #: Seconds from the first message's timestamp to when this was asked, when known.
    processing_lag: float | None


class Messages(Sequence[Message]):
    """The batch handed to one ``consume()`` call: one partition, in offset order."""

    __slots__ = ("_deserializer", "_high_watermark", "_raw", "partition", "topic")

    def __init__(
        self,
        raw: Sequence[confluent_kafka.Message],
        deserializer: Deserializer,
        topic: str,
        partition: int,
        high_watermark: int | None = None,
    ) -> None:
        self._raw = raw
        self._deserializer = deserializer
        self.topic = topic
        self.partition = partition
        self._high_watermark = high_watermark

    @property
    def metadata(self) -> BatchMetadata:
        """First and last offset, size, high watermark, lag and processing lag of the batch."""
        high = self._high_watermark
        last = self.last_offset
        first_time = Message(self._raw[0], self._deserializer).timestamp if self._raw else None
        return BatchMetadata(
            topic=self.topic,
            partition=self.partition,
            size=len(self._raw),
            first_offset=self.first_offset,
            last_offset=last,
            high_watermark=high,
            lag=max(high - last - 1, 0) if high is not None and high >= 0 else None,
            processing_lag=None if first_time is None else max(time.time() - first_time, 0.0),
        )

    def __repr__(self) -> str:
        if not self._raw:
            return f"Messages({self.topic}/{self.partition}, empty)"
        return (
            f"Messages({self.topic}/{self.partition}, {len(self._raw)} messages, "
            f"offsets {self.first_offset}..{self.last_offset})"
        )

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...
    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [Message(raw, self._deserializer) for raw in self._raw[index]]
        return Message(self._raw[index], self._deserializer)

    def __iter__(self) -> Iterator[Message]:
        deserializer = self._deserializer
        for raw in self._raw:
            yield Message(raw, deserializer)

    @property
    def first_offset(self) -> int:
        offset = self._raw[0].offset() if self._raw else None
        return -1 if offset is None else offset

    @property
    def last_offset(self) -> int:
        offset = self._raw[-1].offset() if self._raw else None
        return -1 if offset is None else offset

    def payloads(self) -> list[Any]:
        """Every message's payload, in order."""
        return [message.payload for message in self]

    def raw(self) -> Sequence[confluent_kafka.Message]:
        """The underlying ``confluent_kafka.Message`` objects."""
        return self._raw
