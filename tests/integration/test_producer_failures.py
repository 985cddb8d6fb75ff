"""The app's shared producer against the real broker: messages that can never be produced raise
UndeliverableError (and only those), a fatal producer error re-creates the producer, and the poll
thread survives callbacks that raise."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

import parafka
from parafka.instrumentation import Event, Monitor
from parafka.producing import SharedProducer

from .helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def small_topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> str:
    """A topic whose broker-side limit is 200 bytes per record batch."""
    name = unique_name("small")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = NewTopic(name, num_partitions=1, replication_factor=1)
    topic.config = {"max.message.bytes": "200"}
    admin.create_topics([topic])[name].result(30)
    return name


class Errors:
    def __init__(self) -> None:
        self.monitor = Monitor()
        self.events: list[Event] = []
        self.monitor.subscribe("error.occurred", self.events.append)

    def of_type(self, kind: str) -> list[Event]:
        return [event for event in list(self.events) if event["type"] == kind]


@pytest.fixture
def producers(kafka_bootstrap: str) -> Iterator[Callable[..., tuple[SharedProducer, Errors]]]:
    made: list[SharedProducer] = []

    def make(**settings: Any) -> tuple[SharedProducer, Errors]:
        errors = Errors()
        producer = SharedProducer(
            {"bootstrap.servers": kafka_bootstrap, **settings}, monitor=errors.monitor
        )
        made.append(producer)
        return producer, errors

    yield make
    for producer in made:
        producer.close(5.0)


def test_a_message_larger_than_the_topic_accepts_is_undeliverable_and_others_still_go(
    producers: Callable[..., tuple[SharedProducer, Errors]], small_topic: str
) -> None:
    producer, errors = producers()
    producer.send(small_topic, b"before", timeout=30)
    with pytest.raises(parafka.UndeliverableError) as caught:
        producer.send(small_topic, b"x" * 500, timeout=30)
    assert caught.value.topic == small_topic
    assert caught.value.error.code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert "max.message.bytes" in str(caught.value)
    producer.send(small_topic, b"after", timeout=30)
    assert errors.events == []


def test_a_small_message_batched_with_a_too_large_one_is_still_delivered(
    producers: Callable[..., tuple[SharedProducer, Errors]], small_topic: str
) -> None:
    # A long linger puts both messages in one record batch, which the broker refuses whole.
    producer, _ = producers(**{"linger.ms": 300})
    producer.send(small_topic, b"warm-up", timeout=30)
    outcome: dict[str, BaseException | None] = {}

    def send(name: str, value: bytes) -> None:
        try:
            producer.send(small_topic, value, timeout=30)
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    threads = [
        threading.Thread(target=send, args=("large", b"x" * 500)),
        threading.Thread(target=send, args=("small", b"y")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert isinstance(outcome["large"], parafka.UndeliverableError)
    assert outcome["small"] is None


def test_a_message_over_the_producers_own_limit_is_undeliverable_at_once(
    producers: Callable[..., tuple[SharedProducer, Errors]], new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    producer, _ = producers(**{"message.max.bytes": 1000})
    with pytest.raises(parafka.UndeliverableError, match=r"message\.max\.bytes") as caught:
        producer.send(topic, b"x" * 5000, timeout=30)
    assert caught.value.error.code() == KafkaError.MSG_SIZE_TOO_LARGE
    producer.send(topic, b"small", timeout=30)


def test_a_fatal_producer_error_recreates_the_producer_and_later_sends_work(
    producers: Callable[..., tuple[SharedProducer, Errors]],
    small_topic: str,
    new_topic: Callable[..., str],
) -> None:
    # With the gap-less guarantee, a refused batch is a fatal error: librdkafka's producer is
    # dead (every later produce() fails with _FATAL) until it is replaced.
    producer, errors = producers(**{"enable.gapless.guarantee": True})
    other = new_topic()
    producer.send(small_topic, b"before", timeout=30)
    with pytest.raises(parafka.UndeliverableError):
        producer.send(small_topic, b"x" * 500, timeout=30)
    fatal = errors.of_type("producer.fatal")
    assert fatal, "no producer.fatal event"
    assert fatal[0]["error"].args[0].code() == KafkaError._GAPLESS_GUARANTEE
    assert fatal[0]["error"].args[0].fatal()
    assert all(event["replaced"] for event in fatal)
    assert producer.generation == 1 + len(fatal)
    producer.send(other, b"after", timeout=30)
    producer.send(small_topic, b"after", timeout=30)


def test_the_poll_thread_survives_a_callback_that_raises(
    producers: Callable[..., tuple[SharedProducer, Errors]], new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    calls = 0

    def stats(_report: str) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"stats_cb failure {calls}")

    producer, errors = producers(**{"stats_cb": stats, "statistics.interval.ms": 100})
    wait_until(lambda: len(errors.of_type("producer.poll")) >= 2, 30, "two poll errors")
    assert all(event["stopped"] is False for event in errors.of_type("producer.poll"))
    producer.send(topic, b"x", timeout=30)


def test_a_poll_thread_ended_by_a_callback_is_restarted_by_the_next_send(
    producers: Callable[..., tuple[SharedProducer, Errors]], new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    first = threading.Event()

    def stats(_report: str) -> None:
        if not first.is_set():
            first.set()
            raise SystemExit(1)

    producer, errors = producers(**{"stats_cb": stats, "statistics.interval.ms": 100})
    wait_until(lambda: bool(errors.of_type("producer.poll")), 30, "the poll thread to end")
    assert errors.of_type("producer.poll")[0]["stopped"] is True
    wait_until(
        lambda: not any(t.name == "parafka-producer" for t in threading.enumerate()),
        30,
        "the poll thread to be gone",
    )
    producer.send(topic, b"x", timeout=30)  # its report is served by a restarted poll thread
