"""Commits against the real broker: parafka commits finished work while it runs (not only at
revoke and stop), a crash repeats only unfinished work, commit failures are published with the
broker's error, and a listener that does not finish its shutdown makes the stop unclean."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

import parafka
from parafka.processing import progress
from parafka.processing.virtual import stable_hash
from parafka.testing import produce_messages

from .helpers import committed, read_record, recording_env, serving, wait_until

pytestmark = pytest.mark.integration


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class Events:
    """Events of some names, kept in order (subscribers run on parafka's threads)."""

    def __init__(self, app: parafka.App, *names: Any) -> None:
        self.lock = threading.Lock()
        self.seen: list[parafka.Event] = []
        for name in names:
            app.monitor.subscribe(name, self.add)

    def add(self, event: parafka.Event) -> None:
        with self.lock:
            self.seen.append(event)

    def named(self, name: str, **match: Any) -> list[parafka.Event]:
        with self.lock:
            return [
                e
                for e in self.seen
                if e.name == name and all(e.payload.get(k) == v for k, v in match.items())
            ]


def committed_point(bootstrap: str, group: str, topic: str) -> tuple[int, str | None]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return tp.offset, tp.metadata
    finally:
        consumer.close()


# -- (b) the commit point reaches the broker while the app runs ------------------------------


def test_committed_offsets_reach_the_end_while_the_app_keeps_running(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=3), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"v", i % 3) for i in range(300)))
    app = parafka.App(kafka={"bootstrap.servers": kafka_bootstrap}, group_id=group)
    app.topic(topic, Noop, deserializer=parafka.raw_deserializer)
    events = Events(app, "offsets.committed", "rebalance.revoked", "error.occurred")
    app.start()
    try:

        def confirmed() -> dict[int, int]:
            latest: dict[int, int] = {}
            for event in events.named("offsets.committed"):
                for (_topic, partition), offset in event["offsets"].items():
                    latest[partition] = max(offset, latest.get(partition, -1))
            return latest

        # The commits are parafka's own asynchronous ones: no revoke, no stop has happened.
        wait_until(
            lambda: confirmed() == {0: 100, 1: 100, 2: 100},
            30,
            "offsets.committed events at the end of every partition",
        )
        assert committed(kafka_bootstrap, group, topic, 3) == {0: 100, 1: 100, 2: 100}
        assert app.running
        assert events.named("rebalance.revoked") == []
        assert events.named("error.occurred", type="offsets.commit") == []
    finally:
        assert app.stop()


# -- (a) a failed commit is published with the broker's error --------------------------------


def test_a_commit_the_broker_refuses_is_published_with_its_partition_error(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker refuses metadata over ``offset.metadata.max.bytes`` (4096) with
    OFFSET_METADATA_TOO_LARGE for that partition. parafka itself writes at most 2048 characters,
    so the progress encoding is made to return 5,000: every commit then really fails at the
    broker, the asynchronous ones while the app runs and the synchronous one at stop."""
    monkeypatch.setattr(progress, "encode", lambda *_args, **_kwargs: "x" * 5000)
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((b"k%d" % i, b"v", 0) for i in range(50)))
    app = parafka.App(
        kafka={"bootstrap.servers": kafka_bootstrap, "auto.commit.interval.ms": 200},
        group_id=group,
        log_events=False,
    )
    app.topic(
        topic,
        Noop,
        deserializer=parafka.raw_deserializer,
        virtual_partitions=parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=4),
    )
    events = Events(app, "error.occurred", "offsets.committed")
    app.start()
    try:
        # Sent again at each interval while it fails: two failures of the same offset.
        wait_until(
            lambda: (
                len(events.named("error.occurred", type="offsets.commit", asynchronous=True)) >= 2
            ),
            30,
            "two failed asynchronous commits",
        )
    finally:
        assert app.stop()  # a refused commit is published; it does not make the stop unclean
    for asynchronous in (True, False):
        failures = events.named("error.occurred", type="offsets.commit", asynchronous=asynchronous)
        assert failures, f"no failure published for asynchronous={asynchronous}"
        for event in failures:
            assert event["group"] == group
            assert event["error"].args[0].code() == KafkaError.OFFSET_METADATA_TOO_LARGE
            assert set(event["errors"]) == {(topic, 0)}
            assert event["errors"][(topic, 0)].code() == KafkaError.OFFSET_METADATA_TOO_LARGE
            assert event["offsets"] == {(topic, 0): 50}
    assert events.named("offsets.committed") == []
    assert committed(kafka_bootstrap, group, topic, 1) == {0: -1001}


# -- (c) after SIGKILL only unfinished work is repeated ---------------------------------------

LANES = 4


def keys_by_lane() -> dict[int, list[bytes]]:
    """Keys whose lane (``stable_hash(key) % LANES``, parafka's consistent distribution) is
    known, so that the test decides which messages share a lane."""
    lanes: dict[int, list[bytes]] = {lane: [] for lane in range(LANES)}
    index = 0
    while min(len(keys) for keys in lanes.values()) < 3:
        key = b"key-%d" % index
        lanes[stable_hash(key) % LANES].append(key)
        index += 1
    return lanes


def covered(offset: int, metadata: str | None) -> set[int]:
    """Offsets a committed point says are finished: all below it, and the metadata's ranges."""
    done = set(range(max(offset, 0)))
    for first, last in progress.decode(offset, metadata).finished:
        done.update(range(first, last + 1))
    return done


def test_after_sigkill_only_the_unfinished_message_is_processed_again(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Virtual partitions, one message stuck in a lane of its own (offset 100): the commit point
    stays at 100 while the other lanes finish everything above it, which only the commit's
    metadata records. The committed metadata must follow the progress while the app runs
    (librdkafka's auto-commit never sent a metadata-only change at an unchanged offset), so a
    process killed with SIGKILL is followed by one that processes offset 100 and nothing else."""
    topic, group = new_topic(partitions=1), unique_name("g")
    lanes = keys_by_lane()
    stuck_key, others = lanes[0][0], [key for lane in (1, 2, 3) for key in lanes[lane]]

    def batch(first: int, last: int) -> list[tuple[bytes, bytes, int]]:
        return [
            (stuck_key if offset == 100 else others[offset % len(others)], b"v", 0)
            for offset in range(first, last)
        ]

    out = tmp_path / "record.log"
    env = recording_env(
        kafka_bootstrap,
        topic,
        group,
        out=str(out),
        vp=str(LANES),
        distribution="consistent",  # keys_by_lane() relies on it
        hang="0:100",
        max_messages="10",
        session_timeout_ms="6000",
    )

    def processed(pid: int | None = None) -> set[int]:
        return {
            int(f[2]) for f in read_record(out) if f[0] == "P" and (pid is None or int(f[3]) == pid)
        }

    produce_messages(kafka_bootstrap, topic, batch(0, 200))
    with serving(env, tmp_path / "first.log") as first:
        wait_until(lambda: processed() == set(range(200)) - {100}, 60, "everything but offset 100")
        wait_until(
            lambda: committed_point(kafka_bootstrap, group, topic)[0] == 100,
            30,
            "the commit point at the stuck offset",
        )
        # More work above the commit point: only the metadata changes now.
        produce_messages(kafka_bootstrap, topic, batch(200, 600))
        wait_until(
            lambda: processed() == set(range(600)) - {100}, 60, "everything but offset 100 again"
        )
        wait_until(
            lambda: (
                covered(*committed_point(kafka_bootstrap, group, topic)) >= set(range(600)) - {100}
            ),
            30,
            "the committed metadata to cover every finished offset",
        )
        first.kill()  # SIGKILL: no revoke, no final commit
        first.wait(10)
    first_run = processed(first.pid)
    assert first_run == set(range(600)) - {100}

    env.pop("RECORDING_HANG")
    with serving(env, tmp_path / "second.log") as second:
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 600},
            60,
            "the second process to commit the end",
        )
        second_run = processed(second.pid)
    assert second_run == {100}, f"processed again: {sorted(second_run & first_run)[:20]}"
