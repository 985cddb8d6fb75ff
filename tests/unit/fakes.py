"""Stand-ins for ``confluent_kafka.Message`` in unit tests of logic (no broker involved)."""

from __future__ import annotations

from typing import Any


class FakeMessage:
    """Answers the accessor methods parafka calls on a fetched message."""

    def __init__(
        self,
        offset: int,
        partition: int = 0,
        topic: str = "t",
        value: bytes | None = b"{}",
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp: tuple[int, int] = (1, 1_700_000_000_000),
    ) -> None:
        self._offset, self._partition, self._topic = offset, partition, topic
        self._value, self._key, self._headers, self._timestamp = value, key, headers, timestamp

    def offset(self) -> int:
        return self._offset

    def __len__(self) -> int:  # a confluent-kafka message's len() is its value's size
        return len(self._value or b"")

    def partition(self) -> int:
        return self._partition

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp

    def error(self) -> Any:
        return None


def messages(first: int, last: int, partition: int = 0) -> list[Any]:
    return [FakeMessage(offset, partition) for offset in range(first, last + 1)]
