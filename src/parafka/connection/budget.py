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
budget up front: per connection, :data:`LIBRDKAFKA_FACTOR` times its prefetch queue
(``queued.max.messages.kbytes``) and one fetch response (``fetch.max.bytes``). Unless the app
sets them, both are sized from the connection's share of the budget
(:func:`budget_client_settings`): librdkafka's own 64 MiB and 50 MiB, or parafka's 16 MiB
queue, would not fit a small budget.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "LIBRDKAFKA_FACTOR",
    "PER_MESSAGE_OVERHEAD",
    "BufferBudget",
    "budget_client_settings",
    "librdkafka_reserve",
]

#: Bytes one fetched message costs beyond its key and value: the ``confluent_kafka.Message``,
#: the key and value ``bytes`` objects, their allocator overhead and the list slot. Measured
#: as resident memory: 200,000 messages of a 9-byte key and a 16-byte value held in a list
#: cost 318 bytes each (confluent-kafka 2.16, Python 3.11), ~293 beyond key and value.
PER_MESSAGE_OVERHEAD = 300


#: Resident bytes librdkafka holds per byte of its nominal buffers (its prefetch queue and one
#: fetch response): the queue passes its threshold by up to a fetch, a response stays whole
#: until its last message is handed over, and the allocator keeps freed buffers of that size.
#: Measured on the benchmark's memory workload (100 KB messages, 1,000 partitions, a 64 MiB
#: budget): peak RSS less the baseline and parafka's own count came to 2.0-2.9 times the
#: nominal 6-24 MiB (more for the larger buffers). With 2, the peak was 105-108 MiB against a
#: bound of 107 (budget + baseline); with 3, 100-106; with 4, 93-94 (``python -m bench --only
#: memory``, alternated with 3), at the same throughput.
LIBRDKAFKA_FACTOR = 4

_MIB = 1024 * 1024


def budget_client_settings(share: int, message_max_bytes: int = 1_000_000) -> dict[str, int]:
    """librdkafka's buffer sizes for a connection whose share of the budget is ``share`` bytes
    (the budget divided by the app's connections), for the settings the app does not set:
    the prefetch queue (``queued.max.messages.kbytes``) a sixteenth of the share, between
    1 MiB and parafka's usual 16 MiB, and one fetch response (``fetch.max.bytes``) a
    thirty-second, between 1 MiB and librdkafka's 50 MiB, and never below the connection's
    ``message.max.bytes`` (librdkafka refuses a smaller one). So librdkafka's reserve
    (:func:`librdkafka_reserve`) is at most a quarter of the share, or its minimum of 8 MiB,
    unless ``message.max.bytes`` is larger than a thirty-second of the share."""
    queue = max(_MIB, min(16 * _MIB, share // 16))
    fetch = max(_MIB, message_max_bytes, min(52_428_800, share // 32))
    return {"queued.max.messages.kbytes": queue // 1024, "fetch.max.bytes": fetch}


def librdkafka_reserve(config: Mapping[str, object]) -> int:
    """Bytes taken off the budget for one connection with librdkafka settings ``config``:
    :data:`LIBRDKAFKA_FACTOR` times its prefetch queue and one fetch response (librdkafka's
    defaults, 64 MiB and 50 MiB, where ``config`` has neither)."""
    queue = int(str(config.get("queued.max.messages.kbytes", 65_536))) * 1024
    fetch = int(str(config.get("fetch.max.bytes", 52_428_800)))
    return LIBRDKAFKA_FACTOR * (queue + fetch)


#: Once over the budget, paused partitions resume only when the total is back under this
#: share of it (so that resuming does not at once go over again).
RESUME_AT = 0.75


class BufferBudget:
    """Bytes of fetched, unfinished messages the app may hold; each listener reports its own."""

    def __init__(self, limit: int, reserved: int = 0) -> None:
        #: ``max_buffered_bytes``.
        self.limit = limit
        #: Taken off up front: what librdkafka may hold (all connections).
        self.reserved = reserved
        #: What parafka's own buffers may hold.
        self.available = max(limit - reserved, 0)
        #: The app's connections (listeners), set before they are made: each sizes
        #: librdkafka's buffers from its share of the budget.
        self.connections = 1
        self._shares: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"BufferBudget({self.describe()})"

    @property
    def connection_share(self) -> int:
        """One connection's share of the budget (for sizing librdkafka's buffers)."""
        return self.limit // max(1, self.connections)

    def reserve(self, reserved: int) -> None:
        """Take ``reserved`` bytes (what librdkafka may hold) off the budget, at start."""
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
            f"(max_buffered_bytes {self.limit / mib:.1f} MiB - librdkafka's reserve "
            f"{self.reserved / mib:.1f} MiB)"
        )
