"""``async def consume``: many partitions await at once on one event loop thread, with one
worker thread; order, retries and offsets as with threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import end_offsets, produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def test_ten_partitions_await_at_once_with_a_single_worker(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=10), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", p) for p in range(10)))
    lock = threading.Lock()
    state = {"in_flight": 0, "most": 0, "done": 0}
    threads: set[str] = set()
    everyone: list[asyncio.Event] = []

    class Awaiting(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:
            with lock:
                if not everyone:
                    everyone.append(asyncio.Event())
                state["in_flight"] += 1
                state["most"] = max(state["most"], state["in_flight"])
                threads.add(threading.current_thread().name)
                if state["in_flight"] == 10:
                    everyone[0].set()
            # Each batch waits until all ten are in flight at once: only possible when
            # they await concurrently, since there is a single worker thread.
            await asyncio.wait_for(everyone[0].wait(), 30)
            with lock:
                state["in_flight"] -= 1
                state["done"] += len(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=1,
        log_events=False,
    )
    app.topic(topic, Awaiting, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: state["done"] == 10, 60, "ten batches")
    assert state["most"] == 10
    assert threads == {"parafka-asyncio"}
    assert committed(kafka_bootstrap, group, topic, 10) == end_offsets(kafka_bootstrap, topic)


def test_an_async_consumer_that_raises_is_retried_in_order(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(20)))
    seen: list[int] = []
    failed: list[int] = []

    class Flaky(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                await asyncio.sleep(0)
                if message.offset == 7 and not failed:
                    failed.append(7)
                    raise ConnectionError("try again")
                seen.append(message.offset)
                self.mark_as_consumed(message)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        max_messages=5,
        pause_timeout=0.1,
        log_events=False,
    )
    app.topic(topic, Flaky, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: seen[-1:] == [19], 60, "all 20 messages")
    assert failed == [7]
    assert seen == list(range(20))  # 5 and 6 were marked before the failure: not repeated
    assert committed(kafka_bootstrap, group, topic, 1) == {0: 20}


def test_an_async_consumer_produces_without_blocking_the_loop(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, audit = new_topic(partitions=4), new_topic(partitions=1, base="audit")
    produce_messages(kafka_bootstrap, topic, ((None, b"%d" % i, i % 4) for i in range(40)))
    done = [0]
    lock = threading.Lock()

    class Auditing(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:
            await asyncio.gather(
                *(self.produce_async(audit, value=m.value, key=b"k") for m in messages)
            )
            with lock:
                done[0] += len(messages)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap}, group_id=unique_name("g"), log_events=False
    )
    app.topic(topic, Auditing, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: done[0] == 40, 60, "40 messages")
        assert end_offsets(kafka_bootstrap, audit) == {0: 40}  # all acknowledged already


def test_batches_after_the_first_reach_the_loop_without_a_worker(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Once a lane's async instance exists, its batches go straight to the event loop: with
    the only worker thread blocked in a synchronous consumer, an async partition still
    processes everything, in order (before, each batch waited for a free worker)."""
    fast, blocking, group = new_topic(partitions=1), new_topic(partitions=1), unique_name("g")
    release = threading.Event()
    seen: list[int] = []
    blocked = threading.Event()

    class Async(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                await asyncio.sleep(0)
                seen.append(message.offset)

    class Blocking(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            blocked.set()
            release.wait(120)

    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap},
        group_id=group,
        concurrency=1,
        max_messages=1,
        log_events=False,
    )
    app.topic(fast, Async, deserializer=parafka.raw_deserializer)
    app.topic(blocking, Blocking, deserializer=parafka.raw_deserializer)
    try:
        with running(app):
            produce_messages(kafka_bootstrap, fast, [(None, b"x", 0)])
            wait_until(lambda: seen == [0], 60, "the first async batch (its instance created)")
            produce_messages(kafka_bootstrap, blocking, [(None, b"x", 0)])
            wait_until(blocked.is_set, 60, "the only worker blocked")
            produce_messages(kafka_bootstrap, fast, ((None, b"x", 0) for _ in range(50)))
            wait_until(lambda: len(seen) == 51, 30, "50 more async batches, no worker free")
            assert seen == list(range(51))
            release.set()
    finally:
        release.set()
    assert committed(kafka_bootstrap, group, fast, 1) == {0: 51}
