"""parafka: one ``App`` with ``concurrency`` workers; virtual partitions when the spec asks.

``spec.options``: ``max_messages`` (App max_messages; the App's default when absent),
``virtual_partitions`` (lanes per partition, by message key; 0 = off), ``distribution``
(``consistent`` or ``balanced``; parafka's default when absent), ``asynchronous`` (an ``async
def consume`` whose cost is an ``asyncio.sleep``), ``max_buffered_bytes`` (the App's
process-wide budget, passed only when given), ``max_backlog`` (likewise), ``kafka`` (extra
librdkafka settings).
Thread ownership: ``consume`` runs on parafka's worker threads (on its event loop thread when
asynchronous); the recorder is thread-safe.
"""

from __future__ import annotations

from typing import Any

import parafka
from bench.contenders.common import Processing, Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "parafka 0.1.0 App"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = True  # a partition (or, with virtual partitions, a key's lane) runs in order
PER_KEY_PARALLELISM = True  # with virtual partitions (spec.options["virtual_partitions"])
AT_LEAST_ONCE = True  # offsets are stored only once their work is finished


def consumer_for(spec: Spec, recorder: Processing) -> type[parafka.Consumer]:
    """The consumer class: it pays each message's cost through the recorder (or only counts
    the batch when the workload has no cost). In ``parafka swarm`` nodes the recorder is a
    :class:`~bench.contenders.remote.Probe`."""
    timed = spec.timed

    class Recording(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            partition = messages.metadata.partition
            if timed:
                for message in messages:
                    recorder.process(partition, message.value)
            else:
                recorder.record_many(partition, len(messages))

    class AsyncRecording(parafka.Consumer):
        async def consume(self, messages: parafka.Messages) -> None:  # type: ignore[override]
            partition = messages.metadata.partition
            for message in messages:
                await recorder.process_async(partition, message.value)

    return AsyncRecording if spec.options.get("asynchronous") else Recording


def app_for(spec: Spec, recorder: Processing) -> parafka.App:
    options: dict[str, Any] = spec.options
    settings: dict[str, Any] = {}
    if "max_messages" in options:
        settings["max_messages"] = int(options["max_messages"])
    if "max_backlog" in options:
        settings["max_backlog"] = int(options["max_backlog"])
    if "max_buffered_bytes" in options:
        settings["max_buffered_bytes"] = int(options["max_buffered_bytes"])
    app = parafka.App(
        kafka={"bootstrap.servers": spec.bootstrap, **options.get("kafka", {})},
        group_id=spec.group,
        concurrency=spec.concurrency,
        log_events=False,
        **settings,
    )
    lanes = int(options.get("virtual_partitions", 0))
    vp = None
    if lanes:
        vp = parafka.VirtualPartitions(
            partitioner=lambda m: m.key,
            max_partitions=lanes,
            distribution=options.get("distribution"),
        )
    app.topic(
        spec.topic,
        consumer_for(spec, recorder),
        virtual_partitions=vp,
        deserializer=parafka.raw_deserializer,
    )
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
