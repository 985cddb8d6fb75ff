"""No barrier: a job that runs longer than max.poll.interval.ms keeps the group membership,
because the listener keeps polling while it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import committed, running, wait_until

pytestmark = pytest.mark.integration


def test_a_job_longer_than_max_poll_interval_loses_no_partition(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(3)))
    long_job_done = threading.Event()
    finished: list[int] = []
    trouble: list[str] = []

    class Slow(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            if not long_job_done.is_set():
                # 9 s, well past max.poll.interval.ms (6 s) and its 0.5 s check period.
                long_job_done.wait(9)
                long_job_done.set()
            finished.extend(m.offset for m in messages)

    app = parafka.App(
        kafka={
            "bootstrap.servers": kafka_bootstrap,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 6000,
        },
        group_id=group,
        max_messages=1,
        log_events=False,
    )
    app.topic(topic, Slow)
    for name in ("rebalance.revoked", "rebalance.lost", "error.occurred"):
        app.monitor.subscribe(name, lambda e: trouble.append(f"{e.name} {dict(e.payload)}"))
    with running(app):
        wait_until(lambda: finished == [0, 1, 2], 60, "the slow job and the rest")
        wait_until(lambda: committed(kafka_bootstrap, group, topic, 1) == {0: 3}, 30, "commit")
        assert trouble == []
