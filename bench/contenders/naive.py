"""The naive parallel loop: a bare ``consume()`` loop handing every message to a
``ThreadPoolExecutor(concurrency)``, with librdkafka's auto-commit.

What many teams write first. Fast, but it neither keeps order within a partition nor stops
auto-commit from committing messages still in the pool (a crash loses them). The pool's queue
is bounded at ``4 * concurrency`` messages in flight (a semaphore), so it does not read the
whole topic into memory.
Thread ownership: the main thread polls and submits; pool threads run ``recorder.process``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, KafkaException

from bench.contenders.common import Recorder, Spec, consumer_settings

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "naive ThreadPoolExecutor + auto-commit"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = False  # the pool runs a partition's messages in any order
PER_KEY_PARALLELISM = True
AT_LEAST_ONCE = False  # auto-commit commits messages still waiting in the pool

_LOG = logging.getLogger("bench.naive")
_LOG.addHandler(logging.NullHandler())


def run(spec: Spec, recorder: Recorder) -> None:
    consumer = Consumer(consumer_settings(spec, _LOG))
    slots = threading.BoundedSemaphore(4 * spec.concurrency)

    def work(partition: int, value: bytes | None) -> None:
        try:
            recorder.process(partition, value)
        finally:
            slots.release()

    pool = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="naive")
    try:
        consumer.subscribe([spec.topic])
        while not recorder.done.is_set():
            for message in consumer.consume(500, 0.1):
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition = message.partition()
                assert partition is not None
                while not slots.acquire(timeout=0.1):
                    if recorder.done.is_set():
                        return
                pool.submit(work, partition, message.value())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        consumer.close()
