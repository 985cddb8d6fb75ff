"""Sentry's arroyo with ``RunTaskWithMultiprocessing`` followed by ``CommitOffsets``: arroyo's
way to use more than one core, for CPU-bound processing.

Set up as arroyo's documentation of the strategy describes it: one ``MultiprocessingPool``
(``spec.options["processes"]`` processes, default 2), created once and reused by the strategy
that ``create_with_partitions`` builds on each assignment, closed when the consumer stops. The
strategy closes a batch at ``max_batch_size`` messages (``spec.options["max_batch_size"]``,
default 100: about 20 ms of the CPU workload's work, so the hand-over to a process is small
beside it) or after ``max_batch_time`` (0.1 s), with explicit input and output blocks of
1 MiB (the docs ask for at least ``message_size * max_batch_size``; auto-resizing is called
experimental there) and ``prefetch_batches=True`` (the docs advise it when the consumer is
bottlenecked on the multiprocessing step, which a CPU-bound workload is). The stream processor
runs on the main thread as in :mod:`bench.contenders.peer_arroyo`.

What it guarantees: arroyo sends whole batches to the pool's processes, so two batches of one
partition can run at the same time in two processes: the processing order within a partition
is not kept (the run reports how often it broke). The results come back in submission order and
``CommitOffsets`` commits an offset only after its message and all before it were processed
(at least once).

The pool's processes are spawned (arroyo uses the ``spawn`` start method): each imports this
module to unpickle :func:`process`, which does the message's work through this process's
:class:`~bench.contenders.remote.Probe` and reports it to the contender process's collector
(the socket's path and the spec reach them through the environment). CPU time and peak RSS
include the pool's processes and arroyo's shared-memory manager (see
:mod:`bench.contenders.processes`).
Thread ownership: the main thread runs the stream processor (poll, batch, submit, commit); the
``arroyo-stop`` thread only signals shutdown; the collector's thread records the reports.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from arroyo.backends.kafka import KafkaConsumer, KafkaPayload
from arroyo.backends.kafka.configuration import build_kafka_consumer_configuration
from arroyo.processing import StreamProcessor
from arroyo.processing.strategies import (
    CommitOffsets,
    ProcessingStrategy,
    ProcessingStrategyFactory,
)
from arroyo.processing.strategies.run_task_with_multiprocessing import (
    MultiprocessingPool,
    RunTaskWithMultiprocessing,
)
from arroyo.types import BrokerValue, Commit, Message, Partition, Topic

from bench.contenders.common import Recorder, Spec
from bench.contenders.remote import Collector, probe

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "arroyo 2.48.0 RunTaskWithMultiprocessing"
VIRTUALENV = "peer_arroyo"
PROCESSES = 2
IN_PROCESS_PARALLELISM = False  # each pool process runs one message at a time
KEY_ORDER = False  # two batches of one partition can run in two processes at once
PER_KEY_PARALLELISM = True  # a partition's batches are spread over the pool
AT_LEAST_ONCE = True  # CommitOffsets commits a message's offset once it and all before are done

BLOCK_SIZE = 1024 * 1024


def process(message: Message[KafkaPayload]) -> None:
    """Runs in a pool process: the message's work, reported to the contender process."""
    broker_value = message.value
    assert isinstance(broker_value, BrokerValue)
    probe().process(broker_value.partition.index, message.payload.value)


class _Factory(ProcessingStrategyFactory[KafkaPayload]):  # type: ignore[misc]
    def __init__(self, spec: Spec, pool: MultiprocessingPool) -> None:
        self._pool = pool
        self._max_batch_size = int(spec.options.get("max_batch_size", 100))
        self._max_batch_time = float(spec.options.get("max_batch_time", 0.1))

    def create_with_partitions(
        self, commit: Commit, partitions: Mapping[Partition, int]
    ) -> ProcessingStrategy[KafkaPayload]:
        return RunTaskWithMultiprocessing(
            function=process,
            next_step=CommitOffsets(commit),
            max_batch_size=self._max_batch_size,
            max_batch_time=self._max_batch_time,
            pool=self._pool,
            input_block_size=BLOCK_SIZE,
            output_block_size=BLOCK_SIZE,
            prefetch_batches=True,
        )


def run(spec: Spec, recorder: Recorder) -> None:
    logging.getLogger("arroyo").setLevel(logging.WARNING)
    with Collector(recorder) as collector:
        os.environ.update(collector.environment())  # the spawned pool processes read it
        pool = MultiprocessingPool(int(spec.options.get("processes", PROCESSES)))
        try:
            _consume(spec, recorder, pool)
        finally:
            pool.close()


def _consume(spec: Spec, recorder: Recorder, pool: MultiprocessingPool) -> None:
    extra: dict[str, Any] = dict(spec.options.get("kafka", {}))
    config = build_kafka_consumer_configuration(
        default_config={},
        bootstrap_servers=[spec.bootstrap],
        group_id=spec.group,
        auto_offset_reset="earliest",
        override_params=extra,
    )
    processor = StreamProcessor(
        consumer=KafkaConsumer(config),
        topic=Topic(spec.topic),
        processor_factory=_Factory(spec, pool),
        join_timeout=10.0,
    )

    def stop_when_done() -> None:
        recorder.done.wait()
        recorder.reported.wait(30.0)  # the figures include the pool: taken before it stops
        processor.signal_shutdown()

    threading.Thread(target=stop_when_done, name="arroyo-stop", daemon=True).start()
    processor.run()
