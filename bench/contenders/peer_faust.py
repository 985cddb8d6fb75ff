"""faust-streaming 0.15.3: one agent with ``concurrency=spec.concurrency`` over the topic.

Set up as faust's user guide does: a ``faust.App`` whose id is the consumer group
(``spec.group``), broker ``kafka://<bootstrap>`` (aiokafka underneath), the topic with the
``raw`` serializers (values stay bytes), ``consumer_auto_offset_reset="earliest"``, and an
``@app.agent(topic, concurrency=N)`` iterating ``stream.events()`` (for each event's partition
and raw value). The worker is started programmatically, ``faust.Worker(app, ...)
.execute_from_commandline()`` as the guide shows; no web server (``web_enabled=False``), an
in-memory table store, and a temporary data directory. It is stopped the way a faust worker is
stopped in production: a SIGTERM (sent to this process once the recorder is done), which the
worker handles by shutting down gracefully.

Parallelism: the agent's ``concurrency`` starts that many actors reading one shared channel, so
the messages of a partition are processed concurrently (each message by one actor) and
complete out of order. Faust acks an event when the actor that took it asks for the next one,
and commits a partition's offset only up to its lowest unacked event, so commits wait for
processing (at least once). Each message's cost is an ``asyncio.sleep``.
Thread ownership: the agent actors run on the worker's event loop (the main thread); the
``faust-stop`` thread only waits for the recorder and sends the signal.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
from typing import Any

import faust

from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "faust-streaming 0.15.3 agent concurrency"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = False  # the actors complete one partition's events in any order
PER_KEY_PARALLELISM = True  # one partition's events are shared by all the actors
AT_LEAST_ONCE = True  # a partition's offset is committed only up to its lowest unacked event


def run(spec: Spec, recorder: Recorder) -> None:
    if recorder.done.is_set():
        return  # nothing expected: the SIGTERM below would come before the worker's handler
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-faust-") as datadir:
        settings: dict[str, Any] = {
            "broker": f"kafka://{spec.bootstrap}",
            "web_enabled": False,
            "datadir": datadir,
            "store": "memory://",
            "consumer_auto_offset_reset": "earliest",
            "topic_disable_leader": True,
            **spec.options.get("faust", {}),
        }
        app = faust.App(spec.group, **settings)
        topic = app.topic(spec.topic, key_serializer="raw", value_serializer="raw")

        @app.agent(topic, concurrency=spec.concurrency)  # type: ignore[untyped-decorator]
        async def consume(stream: Any) -> None:
            async for event in stream.events():
                message = event.message
                await recorder.process_async(message.partition, message.value)

        worker = faust.Worker(
            app,
            loglevel="WARNING",
            quiet=True,
            redirect_stdouts=False,  # the outcome line goes to the real stdout
            stdout=sys.stderr,
            workdir=datadir,
        )

        def stop_when_done() -> None:
            recorder.done.wait()
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's handler shuts it down

        threading.Thread(target=stop_when_done, name="faust-stop", daemon=True).start()
        try:
            worker.execute_from_commandline()
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                raise RuntimeError(f"the faust worker exited with {exit_.code!r}") from None
