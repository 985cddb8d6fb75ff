"""Jobs: what crosses from a listener to the worker pool. One job = one partition's batch or hook.

A job is created under its coordinator's lock, put on the jobs queue (``processing.workers``)
and run by exactly one worker thread. ``run()`` never raises for user errors: it reports them to
the coordinator and the monitor, and returns the coordinator's next job (if any) to enqueue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from parafka.messages import Messages

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.processing.coordinator import Coordinator

__all__ = ["ConsumeJob", "HookJob", "Job"]


class Job:
    """Base of every job; ``coordinator`` is the partition it belongs to."""

    __slots__ = ("coordinator", "started_at")

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.started_at: float | None = None

    def run(self) -> Job | None:
        """Run on a worker thread; return the partition's next job, if one is ready."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class ConsumeJob(Job):
    """A batch of one partition's messages, contiguous in offset order."""

    __slots__ = ("attempt", "first_offset", "last_offset", "messages")

    def __init__(
        self,
        coordinator: Coordinator,
        messages: Sequence[confluent_kafka.Message],
        first_offset: int,
        last_offset: int,
        attempt: int,
    ) -> None:
        super().__init__(coordinator)
        self.messages = messages
        self.first_offset = first_offset
        self.last_offset = last_offset
        self.attempt = attempt

    def describe(self) -> str:
        c = self.coordinator
        return (
            f"{c.group_id}/{c.topic}/{c.partition} offsets {self.first_offset}..{self.last_offset}"
            f" ({len(self.messages)} messages, attempt {self.attempt + 1})"
        )

    def mark(self, offset: int) -> bool:
        """Mark this batch's offsets up to ``offset`` finished (called by the consumer)."""
        return self.coordinator.mark(self, offset)

    def run(self) -> Job | None:
        coordinator = self.coordinator
        self.started_at = time.monotonic()
        error: BaseException | None = None
        consumer = coordinator.instance()
        if consumer is not None:
            batch = Messages(
                self.messages,
                coordinator.route.deserializer,
                coordinator.topic,
                coordinator.partition,
            )
            consumer._parafka_job = self
            try:
                consumer.consume(batch)
            except Exception as exc:
                error = exc
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: stop the app
                error = exc
            finally:
                consumer._parafka_job = None
        else:
            error = coordinator.instance_error
        return coordinator.finished(self, error, time.monotonic() - self.started_at)


class HookJob(Job):
    """A lifecycle hook of the partition's consumer instance: ``revoked`` or ``shutdown``."""

    __slots__ = ("hook",)

    def __init__(self, coordinator: Coordinator, hook: Literal["revoked", "shutdown"]) -> None:
        super().__init__(coordinator)
        self.hook = hook

    def describe(self) -> str:
        c = self.coordinator
        return f"{c.group_id}/{c.topic}/{c.partition} {self.hook}() hook"

    def run(self) -> Job | None:
        self.started_at = time.monotonic()
        return self.coordinator.run_hook(self)
