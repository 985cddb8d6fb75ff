"""Quix Streams 3.28.1: an ``Application`` with one ``StreamingDataFrame`` over the topic.

Set up as Quix's docs do: ``Application(broker_address=..., consumer_group=...,
auto_offset_reset="earliest")``, ``app.topic(..., value_deserializer="bytes")`` (values stay
raw bytes), ``app.dataframe(topic)`` with an ``update`` callback that pays each message's cost
(the partition from ``message_context()``), and ``app.run()`` on the main thread. It is stopped
with ``app.stop()`` from another thread once the recorder is done, the way ``Application.stop``
is documented for an application whose lifecycle is managed by hand. Stateless: no changelog
topics, a temporary state directory.

Parallelism: none in-process. A Quix application consumes and processes its partitions on one
thread, one message at a time; Quix scales by running more processes (replicas) in the consumer
group. So ``spec.concurrency`` cannot be applied here: this contender runs its single thread
whatever the spec asks, and ``IN_PROCESS_PARALLELISM = False`` tells the tables so. Offsets are
committed after processing (``processing_guarantee="at-least-once"``, every
``commit_interval`` seconds).
Thread ownership: the main thread runs the app (poll, process, commit); the ``quix-stop``
thread only calls ``app.stop()``.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Any

from quixstreams import Application, message_context

from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "Quix Streams 3.28.1 (1 thread/process)"
IN_PROCESS_PARALLELISM = False  # one thread per process; Quix parallelizes by processes
KEY_ORDER = True  # one message at a time, in partition order
PER_KEY_PARALLELISM = False  # a partition is processed by one thread, serially
AT_LEAST_ONCE = True  # the checkpoint commits processed offsets


def run(spec: Spec, recorder: Recorder) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-quix-") as state_dir:
        app = Application(
            broker_address=spec.bootstrap,
            consumer_group=spec.group,
            auto_offset_reset="earliest",
            loglevel="WARNING",
            state_dir=state_dir,
            use_changelog_topics=False,
            consumer_extra_config=dict(spec.options.get("kafka", {})),
        )
        topic = app.topic(spec.topic, value_deserializer="bytes", key_deserializer="bytes")
        frame = app.dataframe(topic)

        def process(value: Any) -> None:
            recorder.process(message_context().partition, value)

        frame.update(process)

        def stop_when_done() -> None:
            recorder.done.wait()
            app.stop()

        threading.Thread(target=stop_when_done, name="quix-stop", daemon=True).start()
        app.run()
