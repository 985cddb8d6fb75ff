"""A client that stops answering: the app still stops within its bounds, a member out of its
group joins again with a new client, and nothing is lost.

The broker of this module is its own (it is frozen with SIGSTOP).

- At shutdown, while it is frozen, librdkafka's final commit and ``close()`` wait for a group
  coordinator that never answers; parafka waits ``close_timeout`` for them, abandons the client
  and publishes ``ClientStuck``. Once the broker runs again, a new member of the group gets
  every message whose offset was not committed (at-least-once), and the committed offsets never
  pass processed work.
- A member out of its group (coordinator known, join state not steady for ``rejoin_timeout``)
  gets a new client from its listener, which joins and consumes the rest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

import parafka
from parafka.broker import BrokerInfo, LocalBroker
from parafka.connection.membership import GroupWatch
from parafka.errors import BrokerError
from parafka.testing import create_topic, produce_messages
from tests.integration.helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration

MESSAGES = 200
PARTITIONS = 2


@pytest.fixture(scope="module")
def own_broker() -> Iterator[BrokerInfo]:
    broker = LocalBroker(f"pytest-{os.getpid()}-stuck")
    try:
        info = broker.start()
    except BrokerError as exc:
        broker.remove()
        pytest.fail(f"could not start the Kafka broker: {exc}", pytrace=False)
    try:
        yield info
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGCONT)
        broker.remove()


class Recording(parafka.Consumer):
    recorder: Record

    def consume(self, messages: parafka.Messages) -> None:
        self.recorder.add(messages)


def _app(info: BrokerInfo, group: str, topic: str, record: Record) -> parafka.App:
    app = parafka.App(
        kafka={
            "bootstrap.servers": info.bootstrap,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "socket.timeout.ms": 30000,
        },
        group_id=group,
        concurrency=2,
        shutdown_timeout=2.0,
        close_timeout=2.0,
    )
    consumer = type("Recording", (Recording,), {"recorder": record})
    app.topic(topic, consumer)
    return app


def _fill(info: BrokerInfo, topic: str) -> None:
    """MESSAGES more messages, spread evenly over the partitions."""
    produce_messages(
        info.bootstrap, topic, [(None, b"{}", n % PARTITIONS) for n in range(MESSAGES)]
    )


def _errors(app: parafka.App, kind: str) -> list[BaseException]:
    found: list[BaseException] = []
    app.monitor.subscribe(
        "error.occurred",
        lambda event: (
            found.append(event.payload["error"]) if event.payload.get("type") == kind else None
        ),
    )
    return found


def test_stop_abandons_a_client_that_does_not_close_and_loses_nothing(
    own_broker: BrokerInfo,
) -> None:
    topic, group = "stuck-close", "stuck-close-group"
    create_topic(own_broker.bootstrap, topic, partitions=PARTITIONS)
    _fill(own_broker, topic)
    first = Record()
    app = _app(own_broker, group, topic, first)
    problems = _errors(app, "listener.close")
    app.start()
    stopper: threading.Thread | None = None
    try:
        wait_until(lambda: first.count() >= MESSAGES, 60, f"{MESSAGES} messages processed")
        os.kill(own_broker.pid, signal.SIGSTOP)
        stopper = threading.Thread(target=app.stop, daemon=True)
        stopper.start()
        # Bounded by shutdown_timeout + close_timeout (+1 s) in App.stop; the broker's
        # socket timeout (30 s) is what librdkafka alone would wait at the least.
        stopper.join(25)
        assert not stopper.is_alive(), "App.stop() did not return while the broker was frozen"
    finally:
        os.kill(own_broker.pid, signal.SIGCONT)
        if stopper is None:
            app.stop()
    stuck = [p for p in problems if isinstance(p, parafka.ClientStuck)]
    assert stuck, f"no ClientStuck error published; listener.close errors: {problems!r}"
    assert "close_timeout (2 s)" in str(stuck[0])

    # The abandoned client's final commit may still land once the broker runs again: read the
    # committed offsets after it (or after a bound, for a close that never returns).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        thread.name.endswith("-close") and thread.is_alive() for thread in threading.enumerate()
    ):
        time.sleep(0.1)
    # The group gets back what was not committed; committed offsets never pass processed work.
    with first.lock:
        processed = {p: list(offsets) for p, offsets in first.offsets.items()}
    positions = committed(own_broker.bootstrap, group, topic, PARTITIONS)
    for partition, position in positions.items():
        assert position <= max(processed.get(partition, [-1])) + 1
    second = Record()
    with running(_app(own_broker, group, topic, second)):
        expected = sum(
            len([o for o in processed.get(p, []) if o >= max(positions.get(p, 0), 0)])
            for p in range(PARTITIONS)
        )
        wait_until(
            lambda: second.count() >= expected,
            90,
            f"the {expected} uncommitted messages again",
        )
    seen = {
        (p, o)
        for record in (first, second)
        for p, offsets in record.offsets.items()
        for o in offsets
    }
    assert len(seen) == MESSAGES


def test_a_member_out_of_its_group_joins_again_with_a_new_client(
    own_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replacement itself, against the real broker. librdkafka's stuck state cannot be
    caused on demand (a freeze reaches it or not depending on when its connections time out),
    so the watch is told once that the member is stuck; which states count is unit-tested
    (tests/unit/test_membership.py)."""
    topic, group = "out-of-group", "out-of-group-group"
    create_topic(own_broker.bootstrap, topic, partitions=PARTITIONS)
    _fill(own_broker, topic)
    declare_stuck = threading.Event()
    watch_stuck = GroupWatch.stuck

    def stuck(watch: GroupWatch, now: float) -> bool:
        if declare_stuck.is_set():
            declare_stuck.clear()
            return True
        return watch_stuck(watch, now)

    monkeypatch.setattr(GroupWatch, "stuck", stuck)
    record = Record()
    app = _app(own_broker, group, topic, record)
    replaced = _errors(app, "listener.rejoin")
    rebalances: list[str] = []
    for name in ("rebalance.assigned", "rebalance.lost"):
        app.monitor.subscribe(name, lambda event: rebalances.append(event.name))
    with running(app):
        wait_until(lambda: record.count() >= MESSAGES, 60, f"the first {MESSAGES} messages")
        declare_stuck.set()
        wait_until(lambda: bool(replaced), 30, "the listener to replace its client")
        _fill(own_broker, topic)
        wanted = set(range(2 * MESSAGES // PARTITIONS))
        wait_until(
            lambda: all(set(record.offsets.get(p, [])) >= wanted for p in range(PARTITIONS)),
            90,
            "every message, old and new, through the new client",
        )
    assert len(replaced) == 1, replaced
    assert isinstance(replaced[0], parafka.ClientStuck)
    assert "stayed out of its group" in str(replaced[0])
    # Given up as lost (nothing committed for them), then assigned to the new client.
    assert rebalances[0] == "rebalance.assigned"
    assert "rebalance.lost" in rebalances
    assert rebalances[-1] == "rebalance.assigned"
    end = MESSAGES // PARTITIONS * 2
    assert committed(own_broker.bootstrap, group, topic, PARTITIONS) == {
        p: end for p in range(PARTITIONS)
    }
