"""What ``consume()`` receives: :class:`Messages`, a lazy view over a batch of one partition.

Built on a worker thread and used only there. Per-message :class:`Message` objects are created
on access, so a consumer that never iterates pays nothing per message. A route's three
deserializers (value, key, headers) travel as one :class:`Deserializers`, built once per route;
each message keeps a reference to it and runs each one at most once, when its part is asked for.

Both classes are generic in the payload's type: annotate ``messages: parafka.Messages[Order]``
and ``message.payload`` is an ``Order`` to the type checker (bare ``Messages`` means
``Messages[Any]``). Nothing checks it at run time: the route's deserializer decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, overload

from parafka.deserializers import (
    headers_raw_deserializer,
    json_deserializer,
    key_raw_deserializer,
    raw_deserializer,
)
from parafka.errors import DeserializationError

if TYPE_CHECKING:
    import confluent_kafka
    from typing_extensions import TypeVar

    # A default (PEP 696) keeps a bare ``Messages`` valid under ``mypy --strict``: it means
    # ``Messages[Any]``, as before the classes were generic. Python 3.11 and 3.12 have no
    # ``default=`` at run time, where the plain TypeVar below does the same job.
    T_co = TypeVar("T_co", covariant=True, default=Any)
    T = TypeVar("T", default=Any)
else:
    from typing import TypeVar

    T_co = TypeVar("T_co", covariant=True)
    T = TypeVar("T")

__all__ = [
    "BatchMetadata",
    "Deserializer",
    "Deserializers",
    "Message",
    "Messages",
    "json_deserializer",
    "raw_deserializer",
]

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Deserializers(Generic[T_co]):
    """A route's deserializers for the three parts of a message; built once per route."""

    value: Deserializer[T_co]
    key: Deserializer[Any] = key_raw_deserializer
    headers: Deserializer[Any] = headers_raw_deserializer


class Message(Generic[T_co]):
    """One Kafka message. ``payload``, ``key`` and ``headers`` are deserialized on first
    access (then kept); ``value``, ``raw_key`` and ``raw_headers`` are always the raw data.

    ``deserializer`` is the value's deserializer, or a route's :class:`Deserializers` (then
    without the keywords).
    """

    __slots__ = ("_deserializers", "_headers", "_key", "_payload", "_raw")

    def __init__(
        self,
        raw: confluent_kafka.Message,
        deserializer: Deserializer[T_co] | Deserializers[T_co],
        *,
        key_deserializer: Deserializer[Any] | None = None,
        headers_deserializer: Deserializer[Any] | None = None,
    ) -> None:
        # Per message: keep it to a type check and five stores (Messages passes a bundle).
        if type(deserializer) is not Deserializers:
            deserializer = _bundle(deserializer, key_deserializer, headers_deserializer)
        elif key_deserializer is not None or headers_deserializer is not None:
            raise TypeError("pass key/headers deserializers in the Deserializers, not beside it")
        self._raw = raw
        self._deserializers: Deserializers[T_co] = deserializer
        self._payload = self._key = self._headers = _UNSET

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
    def value(self) -> bytes | None:
        """The raw bytes of the value (always reachable, even when ``payload`` fails)."""
        value = self._raw.value()
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    @property
    def payload(self) -> T_co:
        """The deserialized value; a deserializer error is raised here, on each access."""
        payload = self._payload
        if payload is _UNSET:
            payload = self._payload = self._deserializers.value(self)
        return payload  # type: ignore[no-any-return]

    @property
    def raw_key(self) -> bytes | None:
        """The raw bytes of the key, or None for a message without a key."""
        key = self._raw.key()
        return key if key is None or isinstance(key, bytes) else str(key).encode()

    @property
    def key(self) -> Any:
        """The key through the route's ``key_deserializer`` (by default the raw bytes or None).

        A deserializer error is raised here, on each access, as a
        :class:`~parafka.errors.DeserializationError` (``part="key"``)."""
        key = self._key
        if key is _UNSET:
            deserializer = self._deserializers.key
            if deserializer is key_raw_deserializer:  # the default, inlined: partitioners read it
                key = self._raw.key()
                if key is not None and not isinstance(key, bytes):
                    key = str(key).encode()
            else:
                key = self._deserialize("key", deserializer)
            self._key = key
        return key

    @property
    def raw_headers(self) -> list[tuple[str, str | bytes | None]]:
        """The headers as librdkafka gives them: ``(name, value)`` pairs in order (a new list
        on each access)."""
        headers = self._raw.headers()
        if headers is None:
            return []
        return list(headers.items()) if isinstance(headers, dict) else list(headers)

    @property
    def headers(self) -> Any:
        """The headers through the route's ``headers_deserializer`` (by default the list of
        ``(name, value)`` pairs). A deserializer error is raised here, on each access, as a
        :class:`~parafka.errors.DeserializationError` (``part="headers"``)."""
        headers = self._headers
        if headers is _UNSET:
            headers = self._headers = self._deserialize("headers", self._deserializers.headers)
        return headers

    @property
    def timestamp(self) -> float | None:
        """Seconds since the epoch (the message's create or log-append time), or None."""
        kind, millis = self._raw.timestamp()
        return None if kind == 0 or millis < 0 else millis / 1000.0

    @property
    def raw(self) -> confluent_kafka.Message:
        """The underlying ``confluent_kafka.Message``."""
        return self._raw

    def _deserialize(self, part: str, deserializer: Deserializer[Any]) -> Any:
        try:
            return deserializer(self)
        except DeserializationError:
            raise
        except Exception as exc:
            name = getattr(deserializer, "__qualname__", None) or type(deserializer).__qualname__
            raise DeserializationError(
                self,
                f"the {part} deserializer {name} raised {type(exc).__name__}: {exc}",
                part=part,
            ) from exc


#: ``message -> T``: turns a message's value (or key, or headers) into what consume() uses.
Deserializer = Callable[[Message[Any]], T]


def _bundle(
    value: Deserializer[T] | Deserializers[T],
    key: Deserializer[Any] | None,
    headers: Deserializer[Any] | None,
) -> Deserializers[T]:
    """The bundle for a value deserializer and optional key and headers ones."""
    if isinstance(value, Deserializers):  # a subclass of Deserializers
        if key is not None or headers is not None:
            raise TypeError("pass key/headers deserializers in the Deserializers, not beside it")
        return value
    return Deserializers(
        value,
        key_raw_deserializer if key is None else key,
        headers_raw_deserializer if headers is None else headers,
    )


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


class Messages(Sequence[Message[T_co]], Generic[T_co]):
    """The batch handed to one ``consume()`` call: one partition, in offset order.

    ``deserializer`` is the value's deserializer (with the key and headers ones as keywords),
    or a route's :class:`Deserializers`."""

    __slots__ = ("_deserializers", "_high_watermark", "_raw", "partition", "topic")

    def __init__(
        self,
        raw: Sequence[confluent_kafka.Message],
        deserializer: Deserializer[T_co] | Deserializers[T_co],
        topic: str,
        partition: int,
        high_watermark: int | None = None,
        *,
        key_deserializer: Deserializer[Any] | None = None,
        headers_deserializer: Deserializer[Any] | None = None,
    ) -> None:
        self._raw = raw
        self._deserializers = _bundle(deserializer, key_deserializer, headers_deserializer)
        self.topic = topic
        self.partition = partition
        self._high_watermark = high_watermark

    @property
    def metadata(self) -> BatchMetadata:
        """First and last offset, size, high watermark, lag and processing lag of the batch."""
        high = self._high_watermark
        last = self.last_offset
        first_time = Message(self._raw[0], self._deserializers).timestamp if self._raw else None
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
    def __getitem__(self, index: int) -> Message[T_co]: ...
    @overload
    def __getitem__(self, index: slice) -> list[Message[T_co]]: ...
    def __getitem__(self, index: int | slice) -> Message[T_co] | list[Message[T_co]]:
        if isinstance(index, slice):
            return [Message(raw, self._deserializers) for raw in self._raw[index]]
        return Message(self._raw[index], self._deserializers)

    def __iter__(self) -> Iterator[Message[T_co]]:
        deserializers = self._deserializers
        for raw in self._raw:
            yield Message(raw, deserializers)

    @property
    def first_offset(self) -> int:
        offset = self._raw[0].offset() if self._raw else None
        return -1 if offset is None else offset

    @property
    def last_offset(self) -> int:
        offset = self._raw[-1].offset() if self._raw else None
        return -1 if offset is None else offset

    def payloads(self) -> list[T_co]:
        """Every message's payload, in order."""
        return [message.payload for message in self]

    def raw(self) -> Sequence[confluent_kafka.Message]:
        """The underlying ``confluent_kafka.Message`` objects."""
        return self._raw
