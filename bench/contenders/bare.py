"""The bare confluent-kafka loop: ``consume(500)`` and nothing else (the overhead ceiling).

One thread; each message's cost is paid inline, so for IO workloads it is concurrency 1.
Offsets are auto-committed by librdkafka (its defaults).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from confluent_kafka import Consumer, KafkaException

from bench.contenders.common import Recorder, Spec, consumer_settings

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "confluent-kafka bare loop (1 thread)"
IN_PROCESS_PARALLELISM = False  # one thread, each message's cost paid inline
KEY_ORDER = True  # messages are processed one at a time, in partition order
PER_KEY_PARALLELISM = False
AT_LEAST_ONCE = False  # librdkafka stores offsets when consume() returns them, auto-commits those

_LOG = logging.getLogger("bench.bare")
_LOG.addHandler(logging.NullHandler())


def run(spec: Spec, recorder: Recorder) -> None:
    consumer = Consumer(consumer_settings(spec, _LOG))
    timed = spec.timed
    try:
        consumer.subscribe([spec.topic])
        while not recorder.done.is_set():
            batch = consumer.consume(500, 0.1)
            if not batch:
                continue
            runs: dict[int, list[bytes | None]] = defaultdict(list)
            for message in batch:
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition = message.partition()
                assert partition is not None
                if timed:
                    recorder.process(partition, message.value())
                else:
                    runs[partition].append(None)
            for partition, values in runs.items():
                recorder.record_many(partition, len(values))
    finally:
        consumer.close()
