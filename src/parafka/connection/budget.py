"""The process-wide budget for buffered messages: ``App(max_buffered_bytes=...)``.

Threads: one :class:`BufferBudget` per app, shared by its listeners. Each listener thread
writes only its own share (:meth:`BufferBudget.set` at each sweep, :meth:`BufferBudget.add`
after each fetch) and reads the total to decide (through
:class:`~parafka.connection.flow.FlowControl`) whether to pause; any thread reads
:meth:`BufferBudget.describe` and :attr:`BufferBudget.used` for diagnostics. A share is one
dict entry written by one thread; the total is a racy sum of a few ints, which is enough to
decide when to pause (the bound is kept to within one fetch).

What is counted: every message a listener fetched and its app has not finished — in a
backlog, or in a job in flight — at its key and value size plus :data:`PER_MESSAGE_OVERHEAD`
(the Python objects around it). What librdkafka holds is counted as a reserve taken off the
budget up front: per connection, its prefetch queue (``queued.max.messages.kbytes``) and one
fetch response (``fetch.max.bytes``, which parafka lowers to an eighth of the budget unless
the app sets it: librdkafka's 50 MiB default would not fit a small budget).
"""

from __future__ import annotations

__all__ = ["PER_MESSAGE_OVERHEAD", "BufferBudget", "budget_fetch_bytes"]

#: Bytes one fetched message costs beyond its key and value: the ``confluent_kafka.Message``,
#: the key and value ``bytes`` objects, their allocator overhead and the list slot. Measured
#: as resident memory: 200,000 messages of a 9-byte key and a 16-byte value held in a list
#: cost 318 bytes each (confluent-kafka 2.16, Python 3.11), ~293 beyond key and value.
PER_MESSAGE_OVERHEAD = 300


def budget_fetch_bytes(limit: int) -> int:
    """``fetch.max.bytes`` for a connection of an app with a budget of ``limit`` bytes (when
    the app does not set it): an eighth of the budget, between 1 MiB and librdkafka's 50 MiB."""
    return max(1024 * 1024, min(52_428_800, limit // 8))


#: Once over the budget, paused partitions resume only when the total is back under this
#: share of it (so that resuming does not at once go over again).
RESUME_AT = 0.75


class BufferBudget:
    """Bytes of fetched, unfinished messages the app may hold; each listener reports its own."""

    def __init__(self, limit: int, reserved: int = 0) -> None:
        #: ``max_buffered_bytes``.
        self.limit = limit
        #: Taken off up front: librdkafka's prefetch queues (all connections).
        self.reserved = reserved
        #: What parafka's own buffers may hold.
        self.available = max(limit - reserved, 0)
        self._shares: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"BufferBudget({self.describe()})"

    def reserve(self, reserved: int) -> None:
        """Take ``reserved`` bytes (librdkafka's prefetch queues) off the budget, at start."""
        self.reserved = reserved
        self.available = max(self.limit - reserved, 0)

    @property
    def used(self) -> int:
        """The estimated bytes held now, all listeners together (racy: any thread)."""
        return sum(self._shares.values())

    def set(self, owner: str, used: int) -> None:
        """``owner``'s recount (its listener thread, at each sweep)."""
        self._shares[owner] = used

    def add(self, owner: str, fetched: int) -> None:
        """``owner`` fetched ``fetched`` more bytes (its listener thread, after a fetch)."""
        self._shares[owner] = self._shares.get(owner, 0) + fetched

    def forget(self, owner: str) -> None:
        """``owner`` stopped."""
        self._shares.pop(owner, None)

    def over(self) -> bool:
        """True when more is held than the budget allows: fetch no more."""
        return self.used > self.available

    def room(self) -> int:
        """Bytes that may still be fetched (0 when over)."""
        return max(self.available - self.used, 0)

    def may_resume(self) -> bool:
        """True once the total is back under :data:`RESUME_AT` of the budget."""
        return self.used <= self.available * RESUME_AT

    def describe(self) -> str:
        mib = 1024 * 1024
        return (
            f"buffered {self.used / mib:.1f} MiB of {self.available / mib:.1f} MiB "
            f"(max_buffered_bytes {self.limit / mib:.1f} MiB - librdkafka prefetch "
            f"{self.reserved / mib:.1f} MiB)"
        )
