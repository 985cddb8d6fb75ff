"""``max_buffered_bytes``: one process-wide budget for fetched, unfinished messages, kept by
pausing; nothing lost, and a partition stuck on a failing message does not stop the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import parafka
from parafka.connection.budget import LIBRDKAFKA_FACTOR, PER_MESSAGE_OVERHEAD
from parafka.testing import end_offsets, produce_messages

from .helpers import committed, running, wait_until, write_transactions

pytestmark = pytest.mark.integration

PARTITIONS = 30
PER_PARTITION = 12
VALUE = 100_000  # bytes
MIB = 1024 * 1024
PREFETCH_KB = 1024  # librdkafka's queue and
FETCH_MAX = MIB  # one fetch response: four times both (8 MiB) taken off the budget
BUDGET = 20 * MIB
AVAILABLE = BUDGET - LIBRDKAFKA_FACTOR * (PREFETCH_KB * 1024 + FETCH_MAX)  # 12 MiB for parafka


@contextmanager
def sampling(app: parafka.App) -> Iterator[list[int]]:
    """Sample ``app.buffered_bytes`` every 5 ms while the block runs."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            used = app.buffered_bytes
            assert used is not None
            samples.append(used)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(5)


def fill(bootstrap: str, topic: str) -> None:
    produce_messages(
        bootstrap,
        topic,
        (
            (b"k%d" % i, b"v" * VALUE, partition)
            for partition in range(PARTITIONS)
            for i in range(PER_PARTITION)
        ),
    )


def app_for(bootstrap: str, group: str, **settings: int) -> parafka.App:
    return parafka.App(
        kafka={
            "bootstrap.servers": bootstrap,
            "queued.max.messages.kbytes": PREFETCH_KB,
            "fetch.max.bytes": FETCH_MAX,
            "max.partition.fetch.bytes": MIB,
        },
        group_id=group,
        concurrency=4,
        max_messages=2,
        max_buffered_bytes=BUDGET,
        log_events=False,
        **settings,
    )


def recorder(seen: dict[int, list[int]], delay: float) -> type[parafka.Consumer]:
    """A consumer that takes ``delay`` seconds a message and appends each offset it finishes to
    ``seen[partition]``."""

    class Slow(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                time.sleep(delay)
                seen[message.partition].append(message.offset)

    return Slow


def test_the_app_holds_no_more_than_its_budget_and_loses_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=PARTITIONS), unique_name("g")
    fill(kafka_bootstrap, topic)
    seen: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    app = app_for(kafka_bootstrap, group)
    app.topic(topic, recorder(seen, 0.01), deserializer=parafka.raw_deserializer)
    total = PARTITIONS * PER_PARTITION
    with running(app), sampling(app) as samples:
        wait_until(lambda: sum(map(len, seen.values())) >= total, 120, "every message")
        # Without the budget, each partition would hold up to max_backlog_bytes (4 MiB): 30
        # partitions could take 120 MiB. The diagnostics show the budget.
        assert "memory: buffered" in app.diagnostics()
    assert all(seen[p] == list(range(PER_PARTITION)) for p in range(PARTITIONS)), seen
    available = AVAILABLE
    one_message = VALUE + 2 + PER_MESSAGE_OVERHEAD
    assert max(samples) > available // 2  # the budget was reached, so it was tested
    # A poll takes at most the room left; over the budget, only a partition that holds
    # nothing may fetch, one message, and is paused with it: at most one message per
    # partition over the budget.
    assert max(samples) <= available + PARTITIONS * one_message, (max(samples), available)
    assert committed(kafka_bootstrap, group, topic, PARTITIONS) == end_offsets(
        kafka_bootstrap, topic
    )


def test_a_stuck_partition_holding_the_budget_does_not_stop_the_others(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Partition 0 fails forever (no dead letter queue) and first fills most of the budget
    with its backlog; the messages then produced to every other partition are all processed
    (a partition that holds nothing may always fetch)."""
    topic, group = new_topic(partitions=PARTITIONS), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"v" * VALUE, 0) for _ in range(110)))
    seen: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}

    class StuckOnZero(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.partition == 0:
                    raise ValueError("partition 0 never succeeds")
                seen[message.partition].append(message.offset)

    # Partition 0 may hold 9 MiB of the 12 available: the budget stays nearly full.
    app = app_for(kafka_bootstrap, group, max_backlog_bytes=9 * MIB, pause_max_timeout=1)
    app.topic(topic, StuckOnZero, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: (app.buffered_bytes or 0) > 8 * MIB, 60, "partition 0 to fill up")
        produce_messages(
            kafka_bootstrap,
            topic,
            ((None, b"v" * VALUE, p) for p in range(1, PARTITIONS) for _ in range(PER_PARTITION)),
        )
        wait_until(
            lambda: all(len(seen[p]) == PER_PARTITION for p in range(1, PARTITIONS)),
            120,
            "every partition but the stuck one",
        )
        assert seen[0] == []
        assert (app.buffered_bytes or 0) > 8 * MIB  # partition 0 still holds its share
    offsets = committed(kafka_bootstrap, group, topic, PARTITIONS)
    assert offsets[0] in (-1001, 0)  # nothing committed past the failing message
    assert all(offsets[p] == PER_PARTITION for p in range(1, PARTITIONS)), offsets


def test_a_transactional_topic_under_the_budget_commits_past_its_last_marker(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Offsets with gaps under the budget: committed transactions of 100 KB messages, aborted
    ones between them and last (read_committed, librdkafka's default). Every committed message
    is processed once in order, no aborted one, the budget holds, and the commits reach each
    partition's end past the last abort marker (work that can finish does finish)."""
    partitions = 6
    topic, group = new_topic(partitions=partitions), unique_name("g")
    plan = [(8, True), (3, False), (8, True), (3, False), (8, True), (2, False)]
    visible = write_transactions(kafka_bootstrap, topic, partitions, plan, value=b"v" * VALUE)
    seen: dict[int, list[int]] = {p: [] for p in range(partitions)}
    app = app_for(kafka_bootstrap, group)
    app.topic(topic, recorder(seen, 0.005), deserializer=parafka.raw_deserializer)
    ends = end_offsets(kafka_bootstrap, topic)
    with running(app), sampling(app) as samples:
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, partitions) == ends,
            120,
            "the commits to pass the last markers",
        )
    assert seen == {p: sorted(visible[p]) for p in range(partitions)}
    assert all(ends[p] > max(visible[p]) + 1 for p in range(partitions))  # a marker last
    one_message = VALUE + PER_MESSAGE_OVERHEAD
    assert max(samples) > AVAILABLE // 2  # the budget was reached, so it was tested
    assert max(samples) <= AVAILABLE + partitions * one_message, (max(samples), AVAILABLE)
