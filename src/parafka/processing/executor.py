"""The executor of one partition: its consumer instances, their hooks and its dead letters.

Threads: every method runs on the worker thread that runs one of the partition's jobs. A lane
has at most one job in flight, so a lane's consumer instance is only ever touched by one thread
at a time; the per-lane slots are only read and written by that thread. Nothing here takes the
coordinator's lock: the coordinator calls in before or after holding it.

What consumer code raises is sorted here:

- ``Exception`` from ``consume()``: a message failure (the coordinator retries, isolates,
  dead-letters).
- ``Exception`` while creating an instance or from ``initialized()``: not a message failure; the
  lane backs off and tries again, never counting it against ``max_retries``.
- ``Exception`` from ``revoked()``, ``shutdown()``, ``eofed()``: published, processing goes on.
- anything else (``SystemExit``, ``KeyboardInterrupt``, ...) from any of them: critical, the app
  stops with it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from parafka.dead_letters import dead_letter_headers
from parafka.errors import ConfigurationError
from parafka.instrumentation import Monitor

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.consumer import Consumer
    from parafka.messages import Messages
    from parafka.processing.jobs import ConsumeJob
    from parafka.producing import Sender
    from parafka.routing import Route

__all__ = ["ConsumerMisdeclared", "Executor", "Hook"]

Hook = Literal["revoked", "shutdown", "eofed"]


class ConsumerMisdeclared(ConfigurationError):
    """A consumer whose code can never work as declared (critical: the app stops)."""


class Executor:
    """Consumer instances (one per lane), their lifecycle hooks and dead-letter produces."""

    def __init__(
        self,
        route: Route,
        partition: int,
        lanes: int,
        monitor: Monitor,
        on_critical: Callable[[BaseException], None],
        producer: Sender | None,
    ) -> None:
        self.route = route
        self.topic = route.topic
        self.partition = partition
        self._monitor = monitor
        self._on_critical = on_critical
        self.producer = producer
        self._consumers: list[Consumer | None] = [None] * lanes
        self._errors: list[BaseException | None] = [None] * lanes

    def instance(self, lane: int) -> Consumer | None:
        """The lane's consumer, created and ``initialized()`` on first use; None when that
        failed (see :meth:`instance_error`)."""
        consumer = self._consumers[lane]
        if consumer is not None:
            return consumer
        try:
            consumer = self.route.consumer()
            consumer.topic = self.topic
            consumer.partition = self.partition
            consumer._parafka_producer = self.producer
            consumer.initialized()
        except Exception as exc:
            self._errors[lane] = exc
            self._monitor.publish(
                "error.occurred",
                type="consumer.initialized",
                topic=self.topic,
                partition=self.partition,
                lane=lane,
                error=exc,
            )
            return None
        except BaseException as exc:
            self._errors[lane] = exc
            self._critical("initialized", lane, exc)
            return None
        self._consumers[lane] = consumer
        self._errors[lane] = None
        self._monitor.publish("consumer.initialized", topic=self.topic, partition=self.partition)
        return consumer

    def existing(self, lane: int) -> Consumer | None:
        """The lane's consumer if it was created already (never creates one)."""
        return self._consumers[lane]

    def instance_error(self, lane: int) -> BaseException | None:
        return self._errors[lane]

    def consume(self, job: ConsumeJob, consumer: Consumer, batch: Messages) -> BaseException | None:
        """Run a synchronous ``consume()``; what it raised (None on success)."""
        consumer._parafka_job = job
        try:
            result: object = consumer.consume(batch)  # type: ignore[func-returns-value]
        except BaseException as exc:  # classified by the coordinator (critical or retried)
            return exc
        finally:
            consumer._parafka_job = None
        if result is not None and inspect.isawaitable(result):  # the usual None: no check
            close = getattr(result, "close", None)
            if callable(close):
                close()  # never awaited: no "coroutine was never awaited" warning
            name = f"{type(consumer).__module__}.{type(consumer).__qualname__}"
            return ConsumerMisdeclared(
                f"{name}.consume() returned an awaitable ({type(result).__name__}) but is not "
                f"declared 'async def': its work never ran. Declare it 'async def consume' (or "
                f"return None)"
            )
        return None

    def run_hook(self, lane: int, hook: Hook) -> None:
        """``revoked()`` or ``shutdown()`` on the lane's instance if it exists, or ``eofed()``
        (creating the instance for an empty partition)."""
        consumer = self.instance(lane) if hook == "eofed" else self._consumers[lane]
        if consumer is None:
            return
        try:
            getattr(consumer, hook)()
        except Exception as exc:
            self._monitor.publish(
                "error.occurred",
                type=f"consumer.{hook}",
                topic=self.topic,
                partition=self.partition,
                error=exc,
            )
        except BaseException as exc:
            self._critical(hook, lane, exc)
            return
        self._monitor.publish(f"consumer.{hook}", topic=self.topic, partition=self.partition)  # type: ignore[arg-type]

    def send_dead_letter(
        self,
        topic: str,
        raw: confluent_kafka.Message,
        group_id: str,
        attempts: int,
        error: BaseException,
    ) -> None:
        """Produce ``raw`` to the dead letter ``topic`` and wait for the ack; raises what the
        producer raises (``UndeliverableError`` when it can never succeed)."""
        if self.producer is None:
            raise ConfigurationError(f"no producer for the dead letter topic {topic!r}")
        headers = _header_items(raw) + dead_letter_headers(
            topic=self.topic,
            partition=self.partition,
            offset=raw.offset() or 0,
            group_id=group_id,
            attempts=attempts,
            error=error,
        )
        self.producer.send(topic, raw.value(), raw.key(), headers)

    def _critical(self, hook: str, lane: int, exc: BaseException) -> None:
        self._monitor.publish(
            "error.occurred",
            type=f"consumer.{hook}.critical",
            topic=self.topic,
            partition=self.partition,
            lane=lane,
            error=exc,
        )
        self._on_critical(exc)


def _header_items(raw: confluent_kafka.Message) -> list[tuple[str, str | bytes | None]]:
    headers = raw.headers()
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return [(str(name), value) for name, value in headers]
