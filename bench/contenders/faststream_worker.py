"""The FastStream app that ``faststream run bench.contenders.faststream_worker:app --workers N``
runs in each of its worker processes, for :mod:`bench.contenders.peer_faststream_workers`.

Built at import from the spec in ``BENCH_SPEC`` (the supervisor imports it too, but only the
workers start the broker): FastStream's aiokafka Kafka broker, one subscriber in the spec's
group with ``max_workers=spec.concurrency`` and ``ack_policy=AckPolicy.NACK_ON_ERROR`` (see the
contender's docstring for what that gives). Each message's work runs through this process's
:class:`~bench.contenders.remote.Probe` (``process_async``: the CPU work blocks the event loop,
as CPU work does; a sleep is an ``asyncio.sleep``), which reports it to the contender process.
Thread ownership: the handler runs on the worker's event loop thread.
"""

from __future__ import annotations

import logging
import os

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from bench.contenders.common import Spec
from bench.contenders.remote import SPEC_ENV, probe

_spec = Spec.from_json(os.environ[SPEC_ENV])
_logger = logging.getLogger("bench.faststream")
_logger.setLevel(logging.WARNING)
for _name in ("faststream", "aiokafka"):
    logging.getLogger(_name).setLevel(logging.WARNING)

broker = KafkaBroker(_spec.bootstrap, logger=_logger, log_level=logging.DEBUG)


@broker.subscriber(  # type: ignore[untyped-decorator]
    _spec.topic,
    group_id=_spec.group,
    auto_offset_reset="earliest",
    max_workers=_spec.concurrency,
    ack_policy=AckPolicy.NACK_ON_ERROR,
)
async def handle(message: KafkaMessage) -> None:
    record = message.raw_message
    await probe().process_async(record.partition, record.value)


app = FastStream(broker, logger=_logger)
