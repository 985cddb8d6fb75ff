"""parafka's own way to use more than one core: ``parafka swarm bench.contenders.swarm_node:app
--nodes 2``. The supervisor imports the app, never creates a Kafka client, and forks the nodes;
each runs the whole app (the App of :mod:`bench.contenders.parafka_app`: ``concurrency`` worker
threads, the spec's settings) as a member of the one consumer group, so the partitions are
shared out between the nodes by the group, as between machines.

What it guarantees is what parafka guarantees in each node: a partition's messages run one
batch at a time in offset order, and only processed offsets are committed (at least once). A
partition moves between nodes only at a rebalance (the second node joining): messages the
first node processed and had not committed by then are processed again by the other, which the
run reports ("processed twice") apart from order breaks.

This process opens the collector (each node's probe reports each message to it), starts the
CLI with parafka's interpreter (the checkout's ``src`` first on ``PYTHONPATH``, as for every
contender), and once every expected message was reported sends SIGTERM to the supervisor, which
stops every node gracefully (each commits) and exits 0 (see :mod:`bench.contenders.supervised`).
CPU time and peak RSS include the supervisor and its nodes (see
:mod:`bench.contenders.processes`).
"""

from __future__ import annotations

import importlib.util
import sys

from bench.contenders.common import Recorder, Spec, Unsupported
from bench.contenders.remote import Collector
from bench.contenders.supervised import supervise

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "parafka 0.1.0 swarm"
PROCESSES = 2
IN_PROCESS_PARALLELISM = True
KEY_ORDER = True  # as parafka_app, in each node
PER_KEY_PARALLELISM = True  # with virtual partitions (not used by the CPU workloads)
AT_LEAST_ONCE = True  # offsets are stored only once their work is finished

APP = "bench.contenders.swarm_node:app"


def run(spec: Spec, recorder: Recorder) -> None:
    if importlib.util.find_spec("parafka.swarm") is None:
        raise Unsupported("this parafka has no swarm (parafka.swarm)")
    nodes = int(spec.options.get("processes", PROCESSES))
    command = [sys.executable, "-m", "parafka.cli", "swarm", APP, "--nodes", str(nodes)]
    with Collector(recorder) as collector:
        supervise(command, recorder, collector)
