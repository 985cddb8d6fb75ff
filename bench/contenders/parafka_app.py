"""parafka: one ``App`` with ``concurrency`` workers; virtual partitions when the spec asks.

``spec.options``: ``max_messages`` (App max_messages, default 100), ``virtual_partitions``
(lanes per partition, by message key; 0 = off), ``distribution`` (``consistent`` or
``balanced``), ``kafka`` (extra librdkafka settings).
Thread ownership: ``consume`` runs on parafka's worker threads, the recorder is thread-safe.
"""

from __future__ import annotations

from typing import Any

import parafka
from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "parafka 0.1.0 App"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = True  # a partition (or, with virtual partitions, a key's lane) runs in order
PER_KEY_PARALLELISM = True  # with virtual partitions (spec.options["virtual_partitions"])
AT_LEAST_ONCE = True  # offsets are stored only once their work is finished


def app_for(spec: Spec, recorder: Recorder) -> parafka.App:
    options: dict[str, Any] = spec.options
    timed = spec.cost_ms > 0 or bool(spec.partition_cost_ms) or spec.latency

    class Recording(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            partition = messages.metadata.partition
            if timed:
                for message in messages:
                    recorder.process(partition, message.value)
            else:
                recorder.record_many(partition, len(messages))

    app = parafka.App(
        kafka={"bootstrap.servers": spec.bootstrap, **options.get("kafka", {})},
        group_id=spec.group,
        concurrency=spec.concurrency,
        max_messages=int(options.get("max_messages", 100)),
        log_events=False,
    )
    lanes = int(options.get("virtual_partitions", 0))
    vp = None
    if lanes:
        vp = parafka.VirtualPartitions(
            partitioner=lambda m: m.key,
            max_partitions=lanes,
            distribution=options.get("distribution", "consistent"),
        )
    app.topic(spec.topic, Recording, virtual_partitions=vp, deserializer=parafka.raw_deserializer)
    return app


def run(spec: Spec, recorder: Recorder) -> None:
    app = app_for(spec, recorder)
    app.start()
    try:
        while not recorder.done.wait(0.25):
            if app.critical_error is not None:
                raise RuntimeError(f"the app failed: {app.critical_error!r}")
    finally:
        app.stop()
