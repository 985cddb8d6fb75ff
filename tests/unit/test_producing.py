"""SharedProducer's failure handling against a fake librdkafka producer: permanent versus
retriable failures, re-creating the producer after a fatal error, the supervised poll thread.

The real-broker counterparts are in tests/integration/test_producer_failures.py; the fake makes
the interleavings those cannot pin (a send in flight when the producer dies, many senders racing
a fatal error) happen every time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

import parafka
from parafka import producing
from parafka.delivery import permanent_reason
from parafka.instrumentation import Event, Monitor
from parafka.producing import SharedProducer

HOLD = object()  # the fake keeps the message in flight: no delivery report
Outcome = Any  # KafkaError (failed report), None (acknowledged), HOLD, or an exception to raise


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class FakeProducer:
    """Runs delivery reports (and injected actions) inside ``poll()``, like librdkafka."""

    def __init__(self, index: int, decide: Callable[[int, str, bytes | None], Outcome]) -> None:
        self.index = index
        self._decide = decide
        self._actions: queue.Queue[Callable[[], None]] = queue.Queue()
        self.lock = threading.Lock()
        self.produced: list[tuple[str, bytes | None]] = []
        self.held: list[Callable[[KafkaError | None, Any], None]] = []

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        assert on_delivery is not None
        outcome = self._decide(self.index, topic, value)
        if isinstance(outcome, BaseException):
            raise outcome
        with self.lock:
            self.produced.append((topic, value))
            if outcome is HOLD:
                self.held.append(on_delivery)
                return
        self._actions.put(lambda: on_delivery(outcome, None))

    def inject(self, action: Callable[[], None]) -> None:
        """Run ``action`` inside a coming ``poll()`` (where it may raise)."""
        self._actions.put(action)

    def poll(self, timeout: float = -1) -> int:
        try:
            action = self._actions.get(timeout=max(timeout, 0) or None) if timeout else None
            if action is None:
                action = self._actions.get_nowait()
        except queue.Empty:
            return 0
        action()
        return 1

    def flush(self, timeout: float = -1) -> int:
        return len(self)

    def __len__(self) -> int:
        with self.lock:
            return len(self.held) + self._actions.qsize()


class Factory:
    def __init__(self, decide: Callable[[int, str, bytes | None], Outcome]) -> None:
        self._decide = decide
        self.configs: list[dict[str, Any]] = []
        self.producers: list[FakeProducer] = []

    def __call__(self, config: dict[str, Any]) -> FakeProducer:
        self.configs.append(dict(config))
        producer = FakeProducer(len(self.producers), self._decide)
        self.producers.append(producer)
        return producer


def fails(code: int, *, fatal: bool = False) -> KafkaError:
    return KafkaError(code, "injected", fatal=fatal)


class Harness:
    def __init__(self, decide: Callable[[int, str, bytes | None], Outcome]) -> None:
        self.factory = Factory(decide)
        self.errors: list[Event] = []
        monitor = Monitor()
        monitor.subscribe("error.occurred", self.errors.append)
        self.producer = SharedProducer(
            {"bootstrap.servers": "fake:9092"}, monitor=monitor, factory=self.factory
        )

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in list(self.errors) if e["type"] == kind]


@pytest.fixture
def make() -> Any:
    made: list[Harness] = []

    def build(decide: Callable[[int, str, bytes | None], Outcome]) -> Harness:
        made.append(Harness(decide))
        return made[-1]

    yield build
    for harness in made:
        harness.producer.close(1.0)


# -- classification ------------------------------------------------------------------------


def test_only_errors_about_the_message_itself_are_permanent() -> None:
    too_large = fails(KafkaError.MSG_SIZE_TOO_LARGE)
    assert permanent_reason(too_large, at_produce=True) is not None
    assert permanent_reason(too_large, alone=True) is not None
    assert permanent_reason(too_large, alone=False) is None  # maybe its batch-mate
    assert permanent_reason(fails(KafkaError.TOPIC_EXCEPTION), alone=False) is not None
    for code in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._FATAL,
        KafkaError.NOT_ENOUGH_REPLICAS,
    ):
        assert permanent_reason(fails(code), alone=True) is None
        assert permanent_reason(fails(code), at_produce=True) is None


def test_a_message_refused_with_its_batch_but_accepted_alone_is_delivered(make: Any) -> None:
    answers = iter([fails(KafkaError.MSG_SIZE_TOO_LARGE), None])
    h = make(lambda *_: next(answers))
    h.producer.send("t", b"small", timeout=10)
    first, alone = h.factory.producers
    assert first.produced == [("t", b"small")]
    assert alone.produced == [("t", b"small")]  # sent again on a producer of its own
    assert h.factory.configs[1]["linger.ms"] == 0


def test_a_message_refused_twice_for_its_size_is_undeliverable(make: Any) -> None:
    h = make(lambda *_: fails(KafkaError.MSG_SIZE_TOO_LARGE))
    with pytest.raises(parafka.UndeliverableError) as caught:
        h.producer.send("dlq", b"x" * 10, timeout=10)
    assert isinstance(caught.value, parafka.ParafkaError)
    assert not isinstance(caught.value, KafkaException)
    assert caught.value.topic == "dlq"
    assert caught.value.error.code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert "max.message.bytes" in str(caught.value)
    assert "'dlq'" in str(caught.value)
    assert [len(p.produced) for p in h.factory.producers] == [1, 1]


def test_a_message_the_client_refuses_is_undeliverable_at_once(make: Any) -> None:
    h = make(lambda *_: KafkaException(fails(KafkaError.MSG_SIZE_TOO_LARGE)))
    with pytest.raises(parafka.UndeliverableError, match=r"message\.max\.bytes"):
        h.producer.send("dlq", b"x", timeout=10)


@pytest.mark.parametrize(
    "code",
    [KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._MSG_TIMED_OUT, KafkaError.UNKNOWN],
)
def test_other_failures_stay_retriable(make: Any, code: int) -> None:
    h = make(lambda *_: fails(code))
    with pytest.raises(KafkaException) as caught:
        h.producer.send("dlq", b"x", timeout=10)
    assert caught.value.args[0].code() == code
    assert len(h.factory.producers[0].produced) == 1  # no second try: the caller backs off


# -- fatal errors --------------------------------------------------------------------------


def test_a_fatal_error_in_poll_recreates_the_producer_and_fails_the_send_in_flight(
    make: Any, monitor_turns: None
) -> None:
    h = make(lambda index, *_: HOLD if index == 0 else None)
    outcome: list[BaseException | None] = []

    def in_flight() -> None:
        try:
            h.producer.send("t", b"in flight", timeout=10)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=in_flight)
    sender.start()
    wait_for(lambda: bool(h.factory.producers[0].held), "the message to be in flight")

    def die() -> None:
        raise KafkaException(fails(KafkaError._GAPLESS_GUARANTEE, fatal=True))

    h.factory.producers[0].inject(die)
    sender.join(10)
    assert not sender.is_alive()
    (failure,) = outcome
    assert isinstance(failure, KafkaException)  # retriable: the caller sends it again
    assert not isinstance(failure, parafka.UndeliverableError)
    (event,) = h.of_type("producer.fatal")
    assert event["replaced"] is True
    assert event["generation"] == 2
    assert event["error"].args[0].code() == KafkaError._GAPLESS_GUARANTEE
    assert h.producer.generation == 2
    assert h.factory.configs[1] == h.factory.configs[0]
    h.producer.send("t", b"after", timeout=10)
    assert h.factory.producers[1].produced == [("t", b"after")]


def test_a_fatal_error_raised_by_produce_recreates_the_producer(make: Any) -> None:
    h = make(lambda index, *_: KafkaException(fails(KafkaError._FATAL)) if index == 0 else None)
    with pytest.raises(KafkaException) as caught:
        h.producer.send("t", b"x", timeout=10)
    assert not isinstance(caught.value, parafka.UndeliverableError)
    assert h.producer.generation == 2
    h.producer.send("t", b"x", timeout=10)
    assert len(h.of_type("producer.fatal")) == 1


def test_many_senders_racing_a_fatal_error_replace_the_producer_once(
    make: Any, monitor_turns: None
) -> None:
    dead = threading.Event()

    def decide(index: int, _topic: str, _value: bytes | None) -> Outcome:
        if index == 0 and dead.is_set():
            return KafkaException(fails(KafkaError._FATAL))
        return HOLD if index == 0 else None

    h = make(decide)
    results: list[str] = []
    lock = threading.Lock()

    def sender() -> None:
        for _ in range(20):
            try:
                h.producer.send("t", b"x", timeout=10)
                result = "ok"
            except parafka.UndeliverableError:
                result = "undeliverable"
            except KafkaException:
                result = "retriable"
            with lock:
                results.append(result)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(h.factory.producers[0].held) >= 4, "sends in flight")
    dead.set()

    def die() -> None:
        raise KafkaException(fails(KafkaError._GAPLESS_GUARANTEE, fatal=True))

    h.factory.producers[0].inject(die)
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(results) == 160
    assert "undeliverable" not in results
    assert results.count("ok") >= 160 - 8  # only what was in flight or racing the swap failed
    assert len(h.factory.producers) == 2
    assert len(h.of_type("producer.fatal")) == 1


@pytest.fixture
def monitor_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retired producers are given up after 3 poll turns instead of ~10 s."""
    monkeypatch.setattr(producing, "_RETIRED_TURNS", 3)


# -- the poll thread -----------------------------------------------------------------------


def test_a_callback_raising_inside_poll_is_published_and_polling_goes_on(make: Any) -> None:
    h = make(lambda *_: None)

    def callback() -> None:
        raise RuntimeError("a stats_cb that raises")

    h.factory.producers[0].inject(callback)
    wait_for(lambda: bool(h.of_type("producer.poll")), "the poll error event")
    (event,) = h.of_type("producer.poll")
    assert isinstance(event["error"], RuntimeError)
    assert event["stopped"] is False
    h.producer.send("t", b"x", timeout=10)  # delivered by the same poll thread


def test_a_poll_thread_ended_by_a_base_exception_is_restarted_by_the_next_send(
    make: Any,
) -> None:
    h = make(lambda *_: None)

    def callback() -> None:
        raise SystemExit(3)

    h.factory.producers[0].inject(callback)
    wait_for(lambda: bool(h.of_type("producer.poll")), "the poll thread's end")
    (event,) = h.of_type("producer.poll")
    assert isinstance(event["error"], SystemExit)
    assert event["stopped"] is True
    wait_for(
        lambda: not any(t.name == "parafka-producer" for t in threading.enumerate()),
        "the poll thread to end",
    )
    h.producer.send("t", b"x", timeout=10)  # only a restarted poll thread delivers it


def test_a_refused_configuration_never_shows_a_secret() -> None:
    def refuse(config: dict[str, Any]) -> Any:
        raise KafkaException(f"bad value {config['sasl.password']!r} for sasl.password")

    with pytest.raises(parafka.ConfigurationError) as caught:
        SharedProducer(
            {"bootstrap.servers": "127.0.0.1:1", "sasl.password": "hunter2-canary"},
            factory=refuse,
        )
    assert "hunter2-canary" not in str(caught.value)
    assert "***" in str(caught.value)


class _StatsStorm:
    """A producer whose queue holds 60 stats reports (each raises in the user's callback) ahead
    of every delivery report, as a lagging poll thread finds it."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.polls = 0

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Any = None,
        headers: Any = None,
    ) -> None:
        for _ in range(60):
            self.events.put("stats")
        self.events.put(lambda: on_delivery(None, None))

    def poll(self, timeout: float = -1) -> int:
        self.polls += 1
        try:
            event = self.events.get_nowait()
        except queue.Empty:
            time.sleep(min(timeout, 0.01))
            return 0
        if event == "stats":
            raise RuntimeError("stats_cb failed")
        event()
        return 1

    def flush(self, timeout: float = -1) -> int:
        return 0

    def __len__(self) -> int:
        return 0


def test_a_callback_raising_on_every_event_does_not_starve_the_delivery_reports() -> None:
    storm = _StatsStorm()
    monitor = Monitor()
    errors: list[Event] = []
    monitor.subscribe("error.occurred", errors.append)
    producer = SharedProducer(
        {"bootstrap.servers": "127.0.0.1:1"}, monitor=monitor, factory=lambda _config: storm
    )
    waits: list[float] = []
    real_wait = producer._stopping.wait

    def counting_wait(timeout: float | None = None) -> bool:
        waits.append(timeout or 0.0)
        return real_wait(timeout)

    producer._stopping.wait = counting_wait  # type: ignore[method-assign]
    try:
        producer.send("t", b"x", timeout=30)
    finally:
        producer.close(1.0)
    assert len([e for e in errors if e["type"] == "producer.poll"]) >= 60
    assert waits == []  # served at once, never paused behind the failing callbacks
