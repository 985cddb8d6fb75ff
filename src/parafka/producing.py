"""The app's shared producer: thread-safe ``send`` that waits for the broker's acknowledgement.

Threads: any worker calls :meth:`SharedProducer.send` (or awaits :meth:`~SharedProducer.send_async`
on an event loop); one daemon thread (``parafka-producer``) serves delivery reports with
``poll()``; :meth:`close` (app shutdown) flushes. Each send resolves its own future from the
delivery callback.

Failures come in two kinds. **Permanent** ones (:mod:`parafka.delivery` says which) raise
:class:`~parafka.errors.UndeliverableError`: the same message can never be produced. Everything
else raises ``confluent_kafka.KafkaException`` (or ``TimeoutError``) and may work later, so the
caller backs off and sends again. A **fatal** producer error (idempotence, gap-less guarantee)
kills librdkafka's producer: it is published as ``error.occurred`` (type ``producer.fatal``) and
the producer is re-created with the same configuration; sends in flight on the dead one fail as
retriable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, Protocol

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from parafka.config import mask_secret_values, mask_secrets
from parafka.delivery import PER_BATCH, is_fatal, permanent_reason
from parafka.errors import ConfigurationError, UndeliverableError
from parafka.instrumentation import Monitor

__all__ = [
    "ProducerFactory",
    "ProducerLike",
    "Sender",
    "SharedProducer",
    "producer_config",
]

Headers = Sequence[tuple[str, str | bytes | None]]
DeliveryCallback = Callable[[KafkaError | None, Any], None]


#: Consumer-only librdkafka settings, left out of the producer's configuration.
_CONSUMER_ONLY = (
    "group.",
    "auto.offset.reset",
    "auto.commit.",
    "enable.auto.",
    "fetch.",
    "max.poll.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "partition.assignment.strategy",
    "enable.partition.eof",
    "queued.",
    "isolation.level",
    "check.crcs",
    "consume.callback.max.messages",
    "max.partition.fetch.bytes",
)


def producer_config(kafka: Mapping[str, Any]) -> dict[str, Any]:
    """The app's connection and security settings, without consumer-only ones; idempotent."""
    config = {key: value for key, value in kafka.items() if not key.startswith(_CONSUMER_ONLY)}
    config.setdefault("enable.idempotence", True)
    config.setdefault("linger.ms", 5)
    config.setdefault("message.timeout.ms", 30_000)
    return config


class Sender(Protocol):
    """What consumers (``Consumer.produce``) and dead letters use of the app's producer:
    :class:`SharedProducer`, or the in-memory cluster's producer of ``parafka.testing``.
    Both methods return once the message is written and raise when it is not."""

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        timeout: float = 60.0,
    ) -> None: ...

    async def send_async(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> None: ...


class ProducerLike(Protocol):
    """What :class:`SharedProducer` uses of ``confluent_kafka.Producer`` (a fake in tests)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: DeliveryCallback | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None: ...

    def poll(self, timeout: float = -1) -> int: ...

    def flush(self, timeout: float = -1) -> int: ...

    def __len__(self) -> int: ...


#: Builds the librdkafka producer from its configuration; called again after a fatal error.
ProducerFactory = Callable[[dict[str, Any]], ProducerLike]

#: Poll turns (about 0.1 s each) a replaced producer is still served, so that the delivery
#: reports it owes (with their real errors) reach their senders; then what is left fails.
_RETIRED_TURNS = 100


def _librdkafka_producer(config: dict[str, Any]) -> ProducerLike:
    return confluent_kafka.Producer(config)


class _Waiter:
    """One send waiting for its delivery report; ``settle`` must tolerate being called twice."""

    __slots__ = ("settle",)

    def __init__(self, settle: Callable[[KafkaError | None], None]) -> None:
        self.settle = settle


class _Generation:
    """One librdkafka producer and the sends waiting on it (``pending``: under the lock)."""

    def __init__(self, producer: ProducerLike, number: int) -> None:
        self.producer = producer
        self.number = number
        self.pending: set[_Waiter] = set()
        self.fatal: KafkaError | None = None  # set when it was retired
        self.turns = 0  # poll turns since it was retired (poll thread only)


#: Polls in a row that may raise before the poll thread pauses between them.
_FAILURES_BEFORE_PAUSE = 100


class SharedProducer:
    """One ``confluent_kafka.Producer`` for the whole app, with its supervised poll thread.

    Thread ownership: :meth:`send` and :meth:`send_async` are called from any number of worker
    threads (or event loops) at once; ``produce()`` is thread-safe in librdkafka, so they call it
    without holding a lock. The poll thread is the only one that calls ``poll()``; it also
    serves replaced producers until their delivery reports are out. A fatal error may be seen
    by any of them (the poll thread, a delivery callback, a worker's ``produce()``); the first
    to take the lock replaces the producer, the others see it replaced and do nothing.
    :meth:`close` is called once, by the app's stopping thread.
    """

    def __init__(
        self,
        kafka: Mapping[str, Any],
        logger: logging.Logger | None = None,
        *,
        monitor: Monitor | None = None,
        factory: ProducerFactory | None = None,
    ) -> None:
        config = producer_config(kafka)
        if logger is not None and "logger" not in config:
            config["logger"] = logger
        self._config = config
        self._factory = factory or _librdkafka_producer
        self._monitor = monitor or Monitor()
        try:
            producer = self._factory(config)
        except (KafkaException, ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"the app's producer rejected its configuration ({mask_secrets(config)}): "
                f"{mask_secret_values(str(exc), config)}"
            ) from None
        self._stopping = threading.Event()
        # Guards _current, _retired, every generation's pending set, and _thread.
        self._lock = threading.Lock()
        self._current = _Generation(producer, 1)
        self._retired: list[_Generation] = []
        # A second producer, made on first need, that sends a message refused with its record
        # batch once more, alone (linger.ms=0, one message at a time): the only way to know the
        # refusal was about this message. Owned by whoever holds _alone_lock.
        self._alone_lock = threading.Lock()
        self._alone: ProducerLike | None = None
        self._thread = self._start_polling()

    @property
    def generation(self) -> int:
        """How many librdkafka producers this one has had (1 + fatal errors recovered from)."""
        with self._lock:
            return self._current.number

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Produce one message and return once the broker acknowledged it; raise otherwise.

        Raises :class:`~parafka.errors.UndeliverableError` when the message can never be
        produced; ``KafkaException`` or ``TimeoutError`` (``timeout`` s without a report) when it
        may work later. Blocks the calling thread.
        """
        error = self._attempt(topic, value, key, headers, timeout)
        retried = False
        if error is not None and error.code() in PER_BATCH:
            # Maybe a batch-mate was the large one: send it again, by itself this time.
            error, retried = self._send_alone(topic, value, key, headers, timeout), True
        if error is not None:
            raise self._failure(topic, error, alone=retried)

    async def send_async(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Like :meth:`send`, awaiting the ack on the running event loop instead of blocking."""
        error = await self._attempt_async(topic, value, key, headers)
        retried = False
        if error is not None and error.code() in PER_BATCH:
            alone = self._send_alone
            error, retried = await asyncio.to_thread(alone, topic, value, key, headers, 60.0), True
        if error is not None:
            raise self._failure(topic, error, alone=retried)

    def close(self, timeout: float) -> int:
        """Flush what is queued (at most ``timeout`` s) and stop; returns undelivered count."""
        with self._lock:
            producer = self._current.producer
        remaining = producer.flush(timeout)
        self._stopping.set()
        self._thread.join(1.0)
        return remaining

    # -- sending (worker threads) ----------------------------------------------------------

    def _attempt(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        timeout: float,
    ) -> KafkaError | None:
        """Produce once and wait for the report: its error, or None once acknowledged."""
        done: Future[KafkaError | None] = Future()

        def settle(error: KafkaError | None) -> None:
            with contextlib.suppress(InvalidStateError):  # a second report: nobody waits
                done.set_result(error)

        while not self._produce(topic, value, key, headers, settle):
            if self._stopping.wait(0.05):
                raise KafkaException("the producer is closing")
        return done.result(timeout)

    async def _attempt_async(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
    ) -> KafkaError | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[KafkaError | None] = loop.create_future()

        def resolve(error: KafkaError | None) -> None:
            if not done.done():
                done.set_result(error)

        def settle(error: KafkaError | None) -> None:
            loop.call_soon_threadsafe(resolve, error)  # from the poll thread

        while not self._produce(topic, value, key, headers, settle):
            if self._stopping.is_set():
                raise KafkaException("the producer is closing")
            await asyncio.sleep(0.05)
        return await done

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        settle: Callable[[KafkaError | None], None],
    ) -> bool:
        """Hand the message to the current producer; False when its queue is full."""
        self._ensure_polling()
        waiter = _Waiter(settle)
        with self._lock:
            generation = self._current
            generation.pending.add(waiter)

        def delivered(error: KafkaError | None, _message: object) -> None:
            # On the poll thread, inside poll().
            with self._lock:
                generation.pending.discard(waiter)
            if error is not None and is_fatal(error):
                self._replace(generation, error)
            settle(error)

        try:
            generation.producer.produce(
                topic, value, key, on_delivery=delivered, headers=list(headers or [])
            )
        except BufferError:
            self._forget(generation, waiter)
            return False
        except KafkaException as exc:
            self._forget(generation, waiter)
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None:
                raise
            if is_fatal(error):
                self._replace(generation, error)
                raise  # retriable: the next send goes to the new producer
            reason = permanent_reason(error, at_produce=True)
            if reason is not None:
                raise UndeliverableError(topic, error, reason) from exc
            raise
        except BaseException:
            self._forget(generation, waiter)
            raise
        return True

    def _send_alone(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        timeout: float,
    ) -> KafkaError | None:
        """Produce on the one-message-at-a-time producer, polling it on this thread."""
        reports: list[KafkaError | None] = []
        with self._alone_lock:
            producer = self._alone
            if producer is None:
                producer = self._alone = self._factory({**self._config, "linger.ms": 0})
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    on_delivery=lambda error, _message: reports.append(error),
                    headers=list(headers or []),
                )
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                if error is None or is_fatal(error):
                    self._alone = None
                    return error or KafkaError(KafkaError._FATAL)
                reason = permanent_reason(error, at_produce=True)
                if reason is not None:
                    raise UndeliverableError(topic, error, reason) from exc
                return error
            turns = max(1, int(timeout / 0.1))
            while not reports and turns > 0:
                turns -= 1
                try:
                    producer.poll(0.1)
                except KafkaException as exc:
                    error = exc.args[0] if exc.args else None
                    if isinstance(error, KafkaError) and is_fatal(error):
                        self._alone = None  # dead: a new one next time; its reports still come
                except Exception as exc:  # a callback of the app's configuration raised
                    self._monitor.publish(
                        "error.occurred", type="producer.poll", error=exc, stopped=False
                    )
            if not reports:
                self._alone = None  # it may still hold the message: never reuse it
                raise TimeoutError(f"no delivery report from {topic!r} within {timeout} s")
            return reports[0]

    def _forget(self, generation: _Generation, waiter: _Waiter) -> None:
        with self._lock:
            generation.pending.discard(waiter)

    @staticmethod
    def _failure(topic: str, error: KafkaError, *, alone: bool) -> Exception:
        reason = permanent_reason(error, alone=alone)
        if reason is not None:
            return UndeliverableError(topic, error, reason)
        return KafkaException(error)

    # -- fatal errors (any thread) ---------------------------------------------------------

    def _replace(self, generation: _Generation, error: KafkaError) -> None:
        """Retire ``generation``'s producer after a fatal error and create a new one."""
        failure: Exception | None = None
        with self._lock:
            if self._current is not generation:
                return  # another thread saw the same fatal error first
            try:
                producer = self._factory(self._config)
            except Exception as exc:  # kept: the next fatal error seen tries again
                failure = exc
            else:
                generation.fatal = error
                self._retired.append(generation)
                self._current = _Generation(producer, generation.number + 1)
        self._monitor.publish(
            "error.occurred",
            type="producer.fatal",
            error=KafkaException(error),
            replaced=failure is None,
            generation=generation.number if failure is not None else generation.number + 1,
            **({"replace_error": failure} if failure is not None else {}),
        )

    # -- the poll thread -------------------------------------------------------------------

    def _start_polling(self) -> threading.Thread:
        thread = threading.Thread(target=self._serve, name="parafka-producer", daemon=True)
        thread.start()
        return thread

    def _ensure_polling(self) -> None:
        """Restart the poll thread if it ended (it only ends by a ``BaseException``)."""
        with self._lock:
            if self._thread.is_alive() or self._stopping.is_set():
                return
            self._thread = self._start_polling()

    def _serve(self) -> None:
        failures = 0  # polls in a row that raised
        try:
            while not self._stopping.is_set():
                with self._lock:
                    generation = self._current
                try:
                    generation.producer.poll(0.1)
                    failures = 0
                except KafkaException as exc:
                    failures += 1
                    error = exc.args[0] if exc.args else None
                    if isinstance(error, KafkaError) and is_fatal(error):
                        self._replace(generation, error)
                    else:
                        self._poll_failed(exc, failures)
                except Exception as exc:  # a callback (delivery, stats, error, log) raised
                    failures += 1
                    self._poll_failed(exc, failures)
                self._serve_retired()
        except BaseException as exc:
            self._monitor.publish("error.occurred", type="producer.poll", error=exc, stopped=True)

    def _poll_failed(self, exc: Exception, failures: int) -> None:
        """A poll raised. A raising callback ends ``poll()`` with the rest of the queue (delivery
        reports included) still unserved, so the next poll comes at once: pausing would let a
        callback that raises on every event (a stats report every 100 ms) starve the delivery
        reports behind it. Only a long run of failures in a row (a poll that raises without
        serving anything) pauses, so that it cannot spin."""
        self._monitor.publish("error.occurred", type="producer.poll", error=exc, stopped=False)
        if failures >= _FAILURES_BEFORE_PAUSE:
            self._stopping.wait(0.1)

    def _serve_retired(self) -> None:
        with self._lock:
            retired = list(self._retired)
        for generation in retired:
            generation.turns += 1
            try:
                generation.producer.poll(0)
                owed = len(generation.producer)
            except Exception:
                owed = -1  # a dead producer that cannot even be polled
            if owed == 0 or owed < 0 or generation.turns >= _RETIRED_TURNS:
                with self._lock:
                    self._retired.remove(generation)
                    left = list(generation.pending)
                    generation.pending.clear()
                lost = generation.fatal or KafkaError(KafkaError._FATAL)
                for waiter in left:  # no report will come: they fail, as retriable
                    waiter.settle(lost)
