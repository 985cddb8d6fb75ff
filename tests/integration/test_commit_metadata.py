"""Commit metadata against the real broker: the progress virtual partitions write above the commit
point is used only on the offset it was written with. An offset moved from outside (the admin
API, MirrorMaker 2's offset sync copying the metadata onto the translated offset), a foreign or
an old-format string is ignored with an event: everything from the committed offset is processed,
nothing is skipped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

import parafka
from parafka.instrumentation import Event
from parafka.processing.progress import decode
from parafka.testing import produce_messages

from .helpers import running, wait_until

pytestmark = pytest.mark.integration

IGNORED = "offsets.metadata_ignored"


class Seen:
    """Offsets processed, in processing order, and the metadata-ignored events; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._offsets: list[int] = []
        self._events: list[Event] = []

    def add(self, message: parafka.Message) -> None:
        with self.lock:
            self._offsets.append(message.offset)

    def offsets(self) -> list[int]:
        with self.lock:
            return list(self._offsets)

    def on_error(self, event: Event) -> None:
        if event["type"] == IGNORED:
            with self.lock:
                self._events.append(event)

    def events(self) -> list[Event]:
        with self.lock:
            return list(self._events)


def lanes() -> parafka.VirtualPartitions:
    """Two lanes: key b"stuck" alone in lane 0, every other key in lane 1."""
    return parafka.VirtualPartitions(
        partitioner=lambda m: m.key, max_partitions=2, reducer=lambda k: 0 if k == b"stuck" else 1
    )


def recording_app(bootstrap: str, group: str, topic: str, seen: Seen) -> parafka.App:
    class Recorder(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                seen.add(message)

    app = parafka.App(
        kafka={"bootstrap.servers": bootstrap, "auto.commit.interval.ms": 200},
        group_id=group,
        log_events=False,
    )
    app.topic(topic, Recorder, virtual_partitions=lanes(), deserializer=parafka.raw_deserializer)
    app.monitor.subscribe("error.occurred", seen.on_error)
    return app


def committed_point(bootstrap: str, group: str, topic: str) -> tuple[int, str | None]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return tp.offset, tp.metadata
    finally:
        consumer.close()


def move_offset(bootstrap: str, group: str, topic: str, offset: int, metadata: str | None) -> None:
    """Commit ``offset`` (and ``metadata``) for the group from outside, as an operator or
    MirrorMaker 2 does; retried while the group still has members leaving."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if metadata is None:
        tp = TopicPartition(topic, 0, offset)
    else:
        tp = TopicPartition(topic, 0, offset, metadata=metadata)
    request = [ConsumerGroupTopicPartitions(group, [tp])]

    def altered() -> bool:
        try:
            (future,) = admin.alter_consumer_group_offsets(request, request_timeout=10).values()
            future.result()
        except KafkaException:  # e.g. the group is not empty yet
            return False
        return True

    wait_until(altered, 60, "altering the group's offset")
    moved, stored = committed_point(bootstrap, group, topic)
    assert (moved, stored or None) == (offset, metadata)


@contextmanager
def stuck_at(bootstrap: str, group: str, topic: str, stuck: int) -> Iterator[list[int]]:
    """Run an app that processes every message but the one at offset ``stuck`` (which hangs),
    until everything else is done; stop it, leaving ``stuck`` as the commit point."""
    never = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    class Stuck(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.offset == stuck:
                    never.wait(120)
                    return
                with lock:
                    done.append(message.offset)

    app = parafka.App(
        kafka={"bootstrap.servers": bootstrap, "auto.commit.interval.ms": 200},
        group_id=group,
        log_events=False,
        shutdown_timeout=2.0,
    )
    app.topic(topic, Stuck, virtual_partitions=lanes(), deserializer=parafka.raw_deserializer)
    app.start()
    try:
        yield done
    finally:
        clean = app.stop()
        never.set()  # let the abandoned worker finish; its result is ignored
    assert not clean  # the stuck message hung the shutdown


def produce(bootstrap: str, topic: str, count: int, stuck: int | None = None) -> None:
    keys = (b"stuck" if i == stuck else f"k{i % 5}".encode() for i in range(count))
    produce_messages(bootstrap, topic, ((key, b"v", 0) for key in keys))


@pytest.mark.parametrize("copy_metadata", [True, False], ids=["metadata-copied", "no-metadata"])
def test_an_offset_moved_from_outside_processes_everything_from_there(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    copy_metadata: bool,
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce(kafka_bootstrap, topic, 100, stuck=5)
    with stuck_at(kafka_bootstrap, group, topic, stuck=5) as done:
        wait_until(lambda: len(done) == 99, 60, "all but the stuck message")
        wait_until(
            lambda: decode(*committed_point(kafka_bootstrap, group, topic)).finished == [(6, 99)],
            30,
            "offset 5 committed with 6..99 finished in its metadata",
        )
    offset, metadata = committed_point(kafka_bootstrap, group, topic)
    assert offset == 5
    assert metadata is not None
    assert metadata.startswith("pfk3:5:")

    # Moved back by two, the way a translated offset lands below the source's: read relative to
    # the new offset, the old ranges would claim 3..96 finished, and 5 never ran.
    move_offset(kafka_bootstrap, group, topic, 2, metadata if copy_metadata else None)

    seen = Seen()
    with running(recording_app(kafka_bootstrap, group, topic, seen)):
        wait_until(lambda: len(seen.offsets()) >= 98, 60, "every message from offset 2")
        wait_until(
            lambda: committed_point(kafka_bootstrap, group, topic)[0] == 100, 30, "commit at 100"
        )
    assert sorted(seen.offsets()) == list(range(2, 100))  # nothing skipped, nothing twice
    events = seen.events()
    if copy_metadata:
        assert len(events) == 1
        payload = dict(events[0].payload)
        assert payload["reason"] == "anchor_mismatch"
        assert (payload["group"], payload["topic"], payload["partition"]) == (group, topic, 0)
        assert payload["offset"] == 2
        assert "written at offset 5" in payload["detail"]
    else:
        assert events == []  # no metadata: nothing to ignore


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ("hello", "foreign"),
        ("pfk1:1-5", "old_format"),  # the old decoder read this as 8..13 finished
        ("pfk3:3:r1-5", "anchor_mismatch"),
        ("pfk3:7:r1-zzzz", "undecodable"),  # reaches too far
    ],
)
def test_metadata_that_is_not_progress_of_the_committed_offset_skips_nothing(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    metadata: str,
    reason: str,
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce(kafka_bootstrap, topic, 20)
    move_offset(kafka_bootstrap, group, topic, 7, metadata)
    seen = Seen()
    with running(recording_app(kafka_bootstrap, group, topic, seen)):
        wait_until(lambda: len(seen.offsets()) >= 13, 60, "every message from offset 7")
        wait_until(lambda: seen.events() != [], 30, "the metadata-ignored event")
    assert sorted(seen.offsets()) == list(range(7, 20))
    (event,) = seen.events()
    assert event.name == "error.occurred"
    assert event["reason"] == reason
    assert (event["topic"], event["partition"], event["offset"]) == (topic, 0, 7)


def test_progress_written_at_the_committed_offset_is_still_used(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    # The control for the test above: the same path with the anchor right skips 8..13.
    topic, group = new_topic(partitions=1), unique_name("g")
    produce(kafka_bootstrap, topic, 20)
    move_offset(kafka_bootstrap, group, topic, 7, "pfk3:7:r1-5")
    seen = Seen()
    with running(recording_app(kafka_bootstrap, group, topic, seen)):
        wait_until(lambda: len(seen.offsets()) >= 7, 60, "the unfinished messages from 7")
        wait_until(
            lambda: committed_point(kafka_bootstrap, group, topic)[0] == 20, 30, "commit at 20"
        )
    assert sorted(seen.offsets()) == [7, *range(14, 20)]
    assert seen.events() == []
