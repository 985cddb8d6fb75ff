"""Sentry's arroyo: ``RunTaskInThreads`` followed by ``CommitOffsets``, driven by a
``StreamProcessor`` over arroyo's ``KafkaConsumer`` (confluent-kafka underneath).

Set up as arroyo's getting-started guide does: a ``ProcessingStrategyFactory`` whose
``create_with_partitions`` builds the strategy chain, the consumer configured with
``build_kafka_consumer_configuration`` (manual offset management, ``auto.offset.reset``
earliest), and ``StreamProcessor.run()`` on the main thread until ``signal_shutdown()``; here a
helper thread calls ``signal_shutdown()`` when the recorder is done, where the guide calls it
from a signal handler.

Parallelism: ``RunTaskInThreads(concurrency=spec.concurrency)``, a thread pool shared by all
assigned partitions, with ``max_pending_futures`` (``spec.options["max_pending_futures"]``,
default ``100 * concurrency``) bounding the messages in flight. Futures are forwarded to
``CommitOffsets`` in arrival order, so offsets are committed only once a message and all before
it are processed (at least once); the processing itself runs in any order, also within a
partition. Offsets are committed once a second (arroyo's ``ONCE_PER_SECOND`` commit policy).

Thread ownership: the main thread runs the stream processor (poll, submit, commit); the pool's
threads run ``recorder.process``; the ``arroyo-stop`` thread only signals shutdown.
"""

from __future__ import annotations

import logging
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
    RunTaskInThreads,
)
from arroyo.types import BrokerValue, Commit, Message, Partition, Topic

from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "arroyo 2.48.0 RunTaskInThreads"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = False  # the pool runs a partition's messages in any order
PER_KEY_PARALLELISM = True  # one partition's messages are spread over the pool
AT_LEAST_ONCE = True  # CommitOffsets commits a message's offset only once its future is done


class _Factory(ProcessingStrategyFactory[KafkaPayload]):  # type: ignore[misc]
    def __init__(self, spec: Spec, recorder: Recorder) -> None:
        self._recorder = recorder
        self._concurrency = spec.concurrency
        self._max_pending = int(spec.options.get("max_pending_futures", 100 * spec.concurrency))

    def create_with_partitions(
        self, commit: Commit, partitions: Mapping[Partition, int]
    ) -> ProcessingStrategy[KafkaPayload]:
        recorder = self._recorder

        def process(message: Message[KafkaPayload]) -> None:
            broker_value = message.value
            assert isinstance(broker_value, BrokerValue)
            recorder.process(broker_value.partition.index, message.payload.value)

        return RunTaskInThreads(
            processing_function=process,
            concurrency=self._concurrency,
            max_pending_futures=self._max_pending,
            next_step=CommitOffsets(commit),
        )


def run(spec: Spec, recorder: Recorder) -> None:
    logging.getLogger("arroyo").setLevel(logging.WARNING)
    extra: dict[str, Any] = dict(spec.options.get("kafka", {}))
    config = build_kafka_consumer_configuration(
        default_config={},
        bootstrap_servers=[spec.bootstrap],
        group_id=spec.group,
        auto_offset_reset="earliest",
        override_params=extra,
    )
    consumer = KafkaConsumer(config)
    processor = StreamProcessor(
        consumer=consumer,
        topic=Topic(spec.topic),
        processor_factory=_Factory(spec, recorder),
        join_timeout=5.0,
    )

    def stop_when_done() -> None:
        recorder.done.wait()
        processor.signal_shutdown()

    threading.Thread(target=stop_when_done, name="arroyo-stop", daemon=True).start()
    processor.run()
