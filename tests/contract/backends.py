"""The two backends a contract scenario runs on: the harness's in-memory cluster, a real broker.

A scenario is written once against :class:`Backend`: it makes topics and apps, starts an app,
produces, waits for a condition, reads committed offsets and what was produced, stops the app.
:class:`HarnessBackend` does each with :class:`parafka.testing.Harness` (the test's thread, a
fake clock); :class:`BrokerBackend` with the real broker (``app.start()``, the app's threads,
the wall clock). A condition is waited for on the harness by running it (moving the fake clock
while work waits for it) until it holds or nothing is left to do, on the broker by polling it
until a deadline: a scenario never sleeps to synchronize.
"""

from __future__ import annotations

import itertools
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

import parafka
from parafka.testing import (
    Harness,
    HarnessError,
    committed_offsets,
    create_topic,
    end_offsets,
)
from tests.integration.helpers import read_all, wait_until

#: The settings every scenario's app gets (a scenario may override them): short back-offs, so
#: that retries take little wall-clock time on the broker.
APP_DEFAULTS: dict[str, Any] = {
    "concurrency": 4,
    "pause_timeout": 0.1,
    "pause_max_timeout": 0.4,
    "log_events": False,
}

#: Seconds a broker scenario waits for a condition before it fails.
BROKER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Record:
    """A message as a scenario compares it: where it is and what it holds."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


#: ``(key, value, partition)``, partition None: chosen by the key (the default partitioner).
Outgoing = tuple[bytes | None, bytes | None, int | None]


class Backend(ABC):
    """What a contract scenario can do; one instance per test (see the module doc)."""

    name: str

    def __init__(self, test: str) -> None:
        # Unique per run: a broker outlives its tests (a rerun must not find their offsets).
        self._test = f"{test}-{uuid.uuid4().hex[:6]}"
        self._names = itertools.count()
        #: The consumer group of every app this test makes (a second app joins the first's).
        self.group = f"contract-{self._test}"
        self.partitions: dict[str, int] = {}

    def app(self, **settings: Any) -> parafka.App:
        """An app of the test's consumer group on this backend (routes: the scenario's)."""
        return parafka.App(
            kafka={"bootstrap.servers": self.bootstrap, "auto.offset.reset": "earliest"},
            group_id=self.group,
            **{**APP_DEFAULTS, **settings},
        )

    def topic(self, partitions: int = 1, base: str = "topic") -> str:
        """A new topic with ``partitions`` partitions, its name unique to the test."""
        name = f"{base}-{self._test}-{next(self._names)}"
        self.partitions[name] = partitions
        self._create(name, partitions)
        return name

    @property
    @abstractmethod
    def bootstrap(self) -> str: ...

    @abstractmethod
    def _create(self, topic: str, partitions: int) -> None: ...

    @abstractmethod
    def start(self, app: parafka.App) -> None:
        """Run ``app`` (one at a time: :meth:`stop` the previous one first)."""

    @abstractmethod
    def produce(self, topic: str, messages: Iterable[Outgoing]) -> list[tuple[int, int]]:
        """Write ``messages`` in order; their ``(partition, offset)``."""

    @abstractmethod
    def produce_transaction(self, topic: str, values: Sequence[bytes], *, abort: bool) -> None:
        """Write ``values`` to partition 0 of ``topic`` in one transaction, then commit (or
        abort) it."""

    @abstractmethod
    def wait(self, condition: Callable[[], bool], what: str) -> None:
        """Let the running app work until ``condition()`` holds; fail naming ``what``."""

    @abstractmethod
    def committed(self, topic: str, partition: int) -> int | None:
        """The group's committed offset of the partition, None if nothing was committed."""

    @abstractmethod
    def produced(self, topic: str, count: int) -> list[Record]:
        """The first ``count`` messages of ``topic`` (all of its partitions)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the running app as ``app.stop()`` does (shutdown hooks, final commit)."""

    @abstractmethod
    def close(self) -> None:
        """The end of the test: stop what still runs."""

    def partition_of(self, topic: str, key: bytes) -> int:
        """Where a keyed message goes (produced for real, then read back)."""
        ((partition, _offset),) = self.produce(topic, [(key, b"probe", None)])
        return partition


class HarnessBackend(Backend):
    """The in-memory cluster (:class:`~parafka.testing.Harness`)."""

    name = "harness"

    def __init__(self, test: str) -> None:
        super().__init__(test)
        self.harness: Harness | None = None
        self._made: list[Harness] = []

    @property
    def bootstrap(self) -> str:
        return "in-memory:9092"  # never dialled

    def _create(self, topic: str, partitions: int) -> None:
        if self.harness is not None:
            self.harness.create_topic(topic, partitions)

    def start(self, app: parafka.App) -> None:
        previous = self.harness
        cluster = None if previous is None else previous.cluster
        harness = Harness(app, partitions=dict(self.partitions), cluster=cluster)
        for topic, partitions in self.partitions.items():
            harness.create_topic(topic, partitions)
        self._made.append(harness)
        self.harness = harness

    def _running(self) -> Harness:
        if self.harness is None:
            raise AssertionError("the scenario produced before starting an app")
        return self.harness

    def produce(self, topic: str, messages: Iterable[Outgoing]) -> list[tuple[int, int]]:
        harness = self._running()
        written = []
        for key, value, partition in messages:
            message = harness.produce(topic, value, key=key, partition=partition)
            written.append((message.partition, message.offset))
        return written

    def produce_transaction(self, topic: str, values: Sequence[bytes], *, abort: bool) -> None:
        self._running().produce_transaction(topic, values, partition=0, abort=abort)

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        harness = self._running()
        for _ in range(10_000):
            if condition():
                return
            try:
                harness.run()
            except HarnessError as exc:
                if "advance(" not in str(exc):
                    raise
                harness.advance(APP_DEFAULTS["pause_timeout"])  # work waits for the clock
                continue
            if condition():
                return
            raise AssertionError(f"the harness has nothing left to do, and not {what}")
        raise AssertionError(f"the harness went round 10000 times, and not {what}")

    def committed(self, topic: str, partition: int) -> int | None:
        point = self._running().cluster.committed(self.group, (topic, partition))
        return None if point is None else point[0]

    def produced(self, topic: str, count: int) -> list[Record]:
        found = self._running().produced(topic)[:count]
        found.sort(key=lambda m: (m.partition, m.offset))
        return [Record(m.partition, m.offset, m.raw_key, m.value, tuple(m.headers)) for m in found]

    def stop(self) -> None:
        self._running().stop()

    def close(self) -> None:
        for harness in self._made:
            harness.close()


class BrokerBackend(Backend):
    """A real broker (the plugin's ``kafka_broker``), the app run by ``app.start()``."""

    name = "broker"

    def __init__(self, test: str, bootstrap: str) -> None:
        super().__init__(test)
        self._bootstrap = bootstrap
        self._app: parafka.App | None = None
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def _create(self, topic: str, partitions: int) -> None:
        create_topic(self._bootstrap, topic, partitions)

    def start(self, app: parafka.App) -> None:
        if self._app is not None:
            raise AssertionError("stop the running app before starting another")
        app.start()
        self._app = app

    def produce(self, topic: str, messages: Iterable[Outgoing]) -> list[tuple[int, int]]:
        acks: list[tuple[int, int]] = []
        failures: list[object] = []

        def delivered(error: object, message: Any) -> None:
            if error is not None:
                failures.append(error)
            else:
                acks.append((message.partition(), message.offset()))

        sent = 0
        for key, value, partition in messages:
            options: dict[str, Any] = {} if partition is None else {"partition": partition}
            self._producer.produce(topic, value, key, on_delivery=delivered, **options)
            self._producer.flush(10)  # one at a time: acks come back in the order written
            sent += 1
        assert not failures, f"produce to {topic} failed: {failures}"
        assert len(acks) == sent, f"{sent - len(acks)} message(s) to {topic} not acknowledged"
        return acks

    def produce_transaction(self, topic: str, values: Sequence[bytes], *, abort: bool) -> None:
        producer = Producer(
            {"bootstrap.servers": self._bootstrap, "transactional.id": f"{topic}-{abort}"}
        )
        producer.init_transactions(30)
        before = end_offsets(self._bootstrap, topic)[0]
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value, partition=0)
        producer.flush(10)
        if abort:
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)
        # The broker writes the marker after the commit returns: wait for it, so that what is
        # produced next comes after it, as in the harness.
        end = before + len(values) + 1
        wait_until(lambda: end_offsets(self._bootstrap, topic)[0] >= end, 30, "the marker")

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        app = self._app
        deadline = time.monotonic() + BROKER_TIMEOUT

        def holds() -> bool:
            if app is not None and app.critical_error is not None:
                raise AssertionError(f"the app stopped: {app.critical_error!r}")
            return condition()

        wait_until(holds, max(0.0, deadline - time.monotonic()), what)

    def committed(self, topic: str, partition: int) -> int | None:
        offsets = committed_offsets(self._bootstrap, self.group, topic, partition + 1)
        offset = offsets[partition]
        return None if offset < 0 else offset

    def produced(self, topic: str, count: int) -> list[Record]:
        found = read_all(self._bootstrap, topic, count)[:count]
        found.sort(key=lambda m: (m.partition(), m.offset()))
        return [
            Record(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()))
            for m in found
        ]

    def stop(self) -> None:
        app, self._app = self._app, None
        if app is not None:
            assert app.stop(), "the app did not stop cleanly"

    def close(self) -> None:
        self.stop()
        self._producer.flush(10)
