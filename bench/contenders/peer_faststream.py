"""FastStream 0.7.8 with its aiokafka Kafka broker (``faststream[kafka]``), one subscriber with
``max_workers=spec.concurrency``.

Which flavour: in FastStream 0.7.8 both Kafka flavours accept ``max_workers`` on
``broker.subscriber`` (its docstring: "Number of workers to process messages concurrently"), but
only the aiokafka one (``faststream.kafka``) also offers it with an ack policy that commits after
processing; the confluent one (``faststream.confluent``) rejects that combination ("Max workers
not work with manual commit mode"). So this contender uses ``faststream.kafka``.

Parallelism, with the default ack policy (``ACK_FIRST``, as the subscriber's docs describe it):
one aiokafka consumer feeds an in-memory queue that ``max_workers`` tasks on the event loop take
messages from (FastStream's ``ConcurrentDefaultSubscriber``), so the messages of one partition
run concurrently and in any order, and aiokafka's auto-commit commits offsets whether or not
their messages were processed. ``spec.options["ack_policy"] = "ack"`` selects FastStream's other
concurrent mode instead (``ConcurrentBetweenPartitionsSubscriber``): ``max_workers`` consumers
in the group, each processing its partitions one message at a time and committing after each
(order kept, no parallelism within a partition); the constants below describe the default.

The broker runs programmatically (``await broker.start()`` / ``await broker.stop()`` on an
``asyncio.run`` loop), not through the FastStream CLI. The handler takes only the
``KafkaMessage`` (a context parameter), so the body is not decoded: it reads the raw record's
partition and value bytes. Each message's cost is an ``asyncio.sleep`` (``process_async``).
Thread ownership: everything runs on the one event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "FastStream 0.7.8 (aiokafka) max_workers"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = False  # the workers take a partition's messages in any order
PER_KEY_PARALLELISM = True  # one partition's messages run on all the workers
AT_LEAST_ONCE = False  # ACK_FIRST: aiokafka auto-commits messages still queued or running

_ACK_POLICIES = {"ack_first": AckPolicy.ACK_FIRST, "ack": AckPolicy.ACK}


def run(spec: Spec, recorder: Recorder) -> None:
    asyncio.run(_serve(spec, recorder))


async def _serve(spec: Spec, recorder: Recorder) -> None:
    logger = logging.getLogger("bench.faststream")
    logger.setLevel(logging.WARNING)
    for name in ("faststream", "aiokafka"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = KafkaBroker(spec.bootstrap, logger=logger, log_level=logging.DEBUG)
    extra: dict[str, Any] = dict(spec.options.get("subscriber", {}))
    ack_policy = _ACK_POLICIES[str(spec.options.get("ack_policy", "ack_first"))]

    @broker.subscriber(  # type: ignore[untyped-decorator]
        spec.topic,
        group_id=spec.group,
        auto_offset_reset="earliest",
        max_workers=spec.concurrency,
        ack_policy=ack_policy,
        **extra,
    )
    async def handle(message: KafkaMessage) -> None:
        record = message.raw_message
        await recorder.process_async(record.partition, record.value)

    await broker.start()
    try:
        while not recorder.done.is_set():
            await asyncio.sleep(0.05)
    finally:
        await asyncio.wait_for(broker.stop(), timeout=20.0)
