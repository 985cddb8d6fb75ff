"""FastStream 0.7.8 run as its documentation runs it on more than one core: ``faststream run
bench.contenders.faststream_worker:app --workers 2`` (the CLI's "Run [workers] applications
with process spawning"), the Kafka broker of its aiokafka flavour (``faststream.kafka``).

Which flavour and policy: only ``faststream.kafka`` accepts ``max_workers`` together with an
ack policy that commits after processing (``faststream.confluent`` rejects the combination, see
:mod:`bench.contenders.peer_faststream`). With such a policy, ``max_workers=c`` gives c aiokafka
consumers in the group per worker process (FastStream's ``ConcurrentBetweenPartitionsSubscriber``),
each processing its partitions one message at a time and committing after each: ``c`` is 10,
so 2 workers hold one consumer per partition of the 20. The policy is ``NACK_ON_ERROR``: a
message is committed (``ack``) once its handler returned, and a handler that raised makes the
consumer seek back to it (``nack``), so it is processed again (at least once); ``ACK`` would
commit it anyway. No handler raises here, so the two behave alike in this benchmark.

What it guarantees: order within a partition (one consumer holds a partition and awaits each
message before the next), offsets committed only after processing (at least once), no
parallelism within a partition. Each worker's CPU work runs on its event loop, one message at a
time per process; the 1 ms sleep of the mixed workload is an ``asyncio.sleep``, so the other
consumers of the process carry on meanwhile.

This process opens the collector, starts the CLI (the peer virtualenv's own interpreter, with
``typer`` for the CLI, see ``requirements/peer_faststream.txt``), and once every expected message
was reported sends SIGTERM to the CLI's supervisor, which stops its workers (see
:mod:`bench.contenders.supervised`). CPU time and peak RSS include the supervisor and its
workers (see :mod:`bench.contenders.processes`).
"""

from __future__ import annotations

import sys

from bench.contenders.common import Recorder, Spec
from bench.contenders.remote import Collector
from bench.contenders.supervised import supervise

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "FastStream 0.7.8 (aiokafka) --workers"
VIRTUALENV = "peer_faststream"
PROCESSES = 2
IN_PROCESS_PARALLELISM = True  # max_workers consumers (coroutines) per worker process
KEY_ORDER = True  # one consumer per partition, one message at a time
PER_KEY_PARALLELISM = False
AT_LEAST_ONCE = True  # NACK_ON_ERROR: commits after the handler returned, seeks back on error

APP = "bench.contenders.faststream_worker:app"


def run(spec: Spec, recorder: Recorder) -> None:
    workers = int(spec.options.get("processes", PROCESSES))
    command = [sys.executable, "-m", "faststream", "run", APP, "--workers", str(workers)]
    with Collector(recorder) as collector:
        supervise(command, recorder, collector)
