"""What a scenario's consumers saw, safe to write from the app's threads (broker backend)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import parafka


class Seen:
    """Deliveries in order: ``(partition, offset, key, value)`` per message, plus free-form
    ``notes`` (hooks that ran, and the like). Written by workers, read by the test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards both lists
        self._messages: list[tuple[int, int, bytes | None, bytes | None]] = []
        self._notes: list[tuple[object, ...]] = []

    def add(self, messages: Iterable[parafka.Message]) -> None:
        with self._lock:
            self._messages.extend((m.partition, m.offset, m.raw_key, m.value) for m in messages)

    def note(self, *entry: object) -> None:
        with self._lock:
            self._notes.append(entry)

    @property
    def messages(self) -> list[tuple[int, int, bytes | None, bytes | None]]:
        with self._lock:
            return list(self._messages)

    @property
    def notes(self) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._notes)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def offsets(self, partition: int) -> list[int]:
        """The offsets of ``partition`` in the order they were seen."""
        return [offset for p, offset, _key, _value in self.messages if p == partition]

    def values(self, key: bytes) -> list[bytes | None]:
        """The values of ``key`` in the order they were seen."""
        return [value for _p, _offset, k, value in self.messages if k == key]
