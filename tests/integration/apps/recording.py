"""An app for tests that run parafka in another process (``parafka server`` with this module).

Configured by environment variables (``RECORDING_*``). Appends one line per processed message to
``RECORDING_OUT`` (``P <partition> <offset> <pid>``) and flushes it before ``consume()`` returns,
so what is recorded was processed before its offset could be stored. A monitor subscriber
checks every stored or committed offset against what this process processed since the
partition was assigned, and records ``V`` lines for any offset ahead of unfinished work.

Under ``parafka swarm`` the nodes share the output file: it is opened for appending and
line-buffered, so each line is one ``write`` at the file's end, never interleaved with
another node's.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import parafka

_env = os.environ
_out = open(_env["RECORDING_OUT"], "a", buffering=1)  # noqa: SIM115 - lives as long as the process
_lock = threading.Lock()
_hang = _env.get("RECORDING_HANG")  # "partition:offset" that blocks forever
_processed: dict[int, set[int]] = {}
_vp = int(_env.get("RECORDING_VP", "0"))
_distribution: Any = _env.get("RECORDING_DISTRIBUTION")  # None: parafka's default
_delay = float(_env.get("RECORDING_DELAY_MS", "0")) / 1000  # per message, before recording


class Recording(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            if _hang == f"{message.partition}:{message.offset}":
                threading.Event().wait()
            if _delay:
                time.sleep(_delay)
            with _lock:
                _processed.setdefault(message.partition, set()).add(message.offset)
                _out.write(f"P {message.partition} {message.offset} {os.getpid()}\n")


def _check(event: parafka.Event) -> None:
    # With virtual partitions a new owner skips what the previous one finished (from the
    # commit metadata), so this process alone cannot vouch for the offsets below; the test
    # checks the union of every process's record instead.
    if _vp:
        return
    offsets: dict[tuple[str, int], int] = event["offsets"]
    with _lock:
        for (_topic, partition), offset in offsets.items():
            done = _processed.get(partition, set())
            if not done:
                continue
            start = min(done)
            missing = [o for o in range(start, offset) if o not in done]
            if missing:
                listed = ",".join(map(str, missing[:1000]))
                _out.write(f"V {partition} {offset} missing {listed}\n")
            _out.write(f"{'S' if event.name == 'offsets.stored' else 'C'} {partition} {offset}\n")


def _assigned(event: parafka.Event) -> None:
    with _lock:
        for _topic, partition in event["partitions"]:
            _processed.pop(partition, None)  # a new ownership epoch
        _out.write(f"A {os.getpid()} {sorted(p for _, p in event['partitions'])}\n")


def _kafka() -> dict[str, Any]:
    kafka: dict[str, Any] = {"bootstrap.servers": _env["RECORDING_BOOTSTRAP"]}
    protocol = _env.get("RECORDING_PROTOCOL", "eager")
    if protocol == "consumer":
        kafka["group.protocol"] = "consumer"
    elif protocol == "cooperative":
        kafka["partition.assignment.strategy"] = "cooperative-sticky"
    else:
        kafka["partition.assignment.strategy"] = "range"
    if "RECORDING_INSTANCE_ID" in _env:  # static membership
        kafka["group.instance.id"] = _env["RECORDING_INSTANCE_ID"]
    if "RECORDING_SESSION_TIMEOUT_MS" in _env and protocol != "consumer":
        # A killed member's partitions go back to the group once its session expires.
        kafka["session.timeout.ms"] = int(_env["RECORDING_SESSION_TIMEOUT_MS"])
        kafka["heartbeat.interval.ms"] = 1000
    return kafka


app = parafka.App(
    kafka=_kafka(),
    group_id=_env["RECORDING_GROUP"],
    concurrency=int(_env.get("RECORDING_CONCURRENCY", "4")),
    max_messages=int(_env.get("RECORDING_MAX_MESSAGES", "20")),
    shutdown_timeout=float(_env.get("RECORDING_SHUTDOWN_TIMEOUT", "30")),
)
app.topic(
    _env["RECORDING_TOPIC"],
    Recording,
    deserializer=parafka.raw_deserializer,
    virtual_partitions=(
        parafka.VirtualPartitions(
            partitioner=lambda m: m.key, max_partitions=_vp, distribution=_distribution
        )
        if _vp
        else None
    ),
)
app.monitor.subscribe("offsets.stored", _check)
app.monitor.subscribe("offsets.committed", _check)
app.monitor.subscribe("rebalance.assigned", _assigned)
