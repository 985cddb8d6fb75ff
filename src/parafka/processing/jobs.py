"""Jobs: what crosses from a listener to the worker pool. One job = one lane's batch or hook.

A job is created under its coordinator's lock, put on the jobs queue (``processing.workers``)
and run by exactly one worker thread. ``run()`` never raises for user errors: it reports them to
the coordinator and the monitor, and returns the jobs that became ready (to enqueue).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from parafka.messages import Messages

__all__ = ["ConsumeJob", "DeadLetterJob", "HookJob", "Job", "Partition"]

if TYPE_CHECKING:
    import confluent_kafka

    from parafka.processing.coroutines import CoroutineRunner
    from parafka.processing.executor import Executor
    from parafka.routing import Route


class Partition(Protocol):
    """What a job needs from its partition's coordinator (``processing.coordinator``
    implements it; jobs never import the coordinator, which creates them)."""

    route: Route
    topic: str
    partition: int
    group_id: str
    virtual: bool
    runner: CoroutineRunner | None
    executor: Executor

    def clock(self) -> float: ...

    def finished(
        self,
        job: ConsumeJob,
        error: BaseException | None,
        took: float,
        setup_failed: bool = False,
    ) -> list[Job]: ...

    def mark(self, job: ConsumeJob, offset: int) -> bool: ...

    def run_hook(self, job: HookJob) -> list[Job]: ...

    def send_dead_letter(self, job: DeadLetterJob) -> list[Job]: ...

    def user_pause(
        self, offset: int, timeout: float | None, job: ConsumeJob | None = None
    ) -> bool: ...

    def user_resume(self) -> None: ...

    def commit_now(self, timeout: float) -> bool: ...


class Job:
    """Base of every job; ``coordinator`` is the partition it belongs to, ``lane`` its lane."""

    __slots__ = ("coordinator", "lane", "started_at")

    def __init__(self, coordinator: Partition, lane: int) -> None:
        self.coordinator = coordinator
        self.lane = lane
        self.started_at: float | None = None

    def run(self) -> list[Job]:
        """Run on a worker thread; return the partition's jobs that became ready."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _where(self) -> str:
        c = self.coordinator
        lane = f" lane {self.lane}" if c.virtual else ""
        return f"{c.group_id}/{c.topic}/{c.partition}{lane}"


class ConsumeJob(Job):
    """A batch of one lane's messages in offset order.

    Without virtual partitions the batch is contiguous (``offsets`` is None: every offset from
    ``first_offset`` to ``last_offset`` belongs to it); a lane's batch lists its ``offsets``.
    """

    __slots__ = (
        "attempt",
        "first_offset",
        "high_watermark",
        "keys",
        "last_offset",
        "mark_limit",
        "messages",
        "offsets",
    )

    def __init__(
        self,
        coordinator: Partition,
        lane: int,
        messages: Sequence[confluent_kafka.Message],
        first_offset: int,
        last_offset: int,
        attempt: int,
        offsets: list[int] | None = None,
        keys: Sequence[Hashable] | None = None,
    ) -> None:
        super().__init__(coordinator, lane)
        self.messages = messages
        self.first_offset = first_offset
        self.last_offset = last_offset
        self.attempt = attempt
        self.offsets = offsets
        self.keys = keys
        self.high_watermark: int | None = None
        #: The highest offset this job may still mark finished: lowered (under the
        #: coordinator's lock) when a pause, seek or rewind makes its later messages be
        #: fetched again, so that a late success cannot mark the new delivery.
        self.mark_limit = last_offset

    def describe(self) -> str:
        return (
            f"{self._where()} offsets {self.first_offset}..{self.last_offset}"
            f" ({len(self.messages)} messages, attempt {self.attempt + 1})"
        )

    def mark(self, offset: int) -> bool:
        """Mark this batch's messages up to ``offset`` finished (called by the consumer)."""
        return self.coordinator.mark(self, offset)

    def run(self) -> list[Job]:
        coordinator = self.coordinator
        executor = coordinator.executor
        self.started_at = self.coordinator.clock()
        consumer = executor.instance(self.lane)
        if consumer is None:  # not a message failure: the lane backs off and tries again
            return coordinator.finished(
                self, executor.instance_error(self.lane), 0.0, setup_failed=True
            )
        batch = self.batch()
        runner = coordinator.runner
        if runner is not None and coordinator.route.asynchronous:
            runner.submit(self, consumer, batch)  # the loop thread reports when done
            return []
        error = executor.consume(self, consumer, batch)
        return coordinator.finished(self, error, coordinator.clock() - self.started_at)

    def batch(self) -> Messages:
        """What ``consume()`` receives (on the thread that runs this job)."""
        coordinator = self.coordinator
        return Messages(
            self.messages,
            coordinator.route.deserializers,
            coordinator.topic,
            coordinator.partition,
            self.high_watermark,
        )


class HookJob(Job):
    """A lifecycle hook of a lane's consumer instance: ``revoked``, ``shutdown``, ``eofed``."""

    __slots__ = ("hook",)

    def __init__(
        self, coordinator: Partition, lane: int, hook: Literal["revoked", "shutdown", "eofed"]
    ) -> None:
        super().__init__(coordinator, lane)
        self.hook = hook

    def describe(self) -> str:
        return f"{self._where()} {self.hook}() hook"

    def run(self) -> list[Job]:
        self.started_at = self.coordinator.clock()
        return self.coordinator.run_hook(self)


class DeadLetterJob(Job):
    """Produce a lane's failed message to its dead letter queue and wait for the broker's ack."""

    __slots__ = ()

    def describe(self) -> str:
        return f"{self._where()} dead letter"

    def run(self) -> list[Job]:
        self.started_at = self.coordinator.clock()
        return self.coordinator.send_dead_letter(self)
