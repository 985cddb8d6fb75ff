"""The committer with a fake client: each new commit point is recorded once, committed once per
interval with its metadata encoded then, sent again after a failure, never for a partition
that left; synchronous commits and consumers' requests report what the broker said."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from parafka.connection.commits import CommitResult
from parafka.connection.committer import Committer, commit_offset
from parafka.instrumentation import Event, Monitor

KEY = ("t", 0)
OTHER = ("t", 1)
REBALANCING = KafkaError(KafkaError.REBALANCE_IN_PROGRESS)


class FakeCoordinator:
    """A partition's commit point: ``progress`` (offset, revision) and the encoded point."""

    def __init__(self, key: tuple[str, int], offset: int | None = 5, metadata: str = "") -> None:
        self.topic, self.partition = key
        self.offset, self.revision, self.metadata = offset, 0, metadata
        self.encoded = 0  # commit_point() calls: the metadata is encoded only when committing

    def progress(self) -> tuple[int, int] | None:
        return None if self.offset is None else (self.offset, self.revision)

    def commit_point(self) -> tuple[int, str] | None:
        self.encoded += 1
        return None if self.offset is None else (self.offset, self.metadata)


class FakeClient:
    """Records commits; raises ``fail`` (once) when set; a sync commit returns ``returned``."""

    def __init__(self) -> None:
        self.commits: list[tuple[list[tuple[str, int, int, str | None]], bool]] = []
        self.fail: KafkaException | None = None
        self.returned: list[Any] | None = None

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[Any] | None:
        self.commits.append(
            ([(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in offsets], asynchronous)
        )
        if self.fail is not None:
            fail, self.fail = self.fail, None
            raise fail
        if asynchronous:
            return None
        return self.returned if self.returned is not None else offsets


class Setup:
    def __init__(self, *coordinators: FakeCoordinator) -> None:
        self.monitor = Monitor()
        self.events: list[Event] = []
        self.monitor.subscribe("*", self.events.append)
        self.coordinators: dict[tuple[str, int], Any] = {
            (c.topic, c.partition): c for c in coordinators
        }
        self.committer = Committer("g", self.monitor, self.coordinators, interval=1.0)
        self.client = FakeClient()

    def record(self, *coordinators: FakeCoordinator) -> None:
        self.committer.record([((c.topic, c.partition), c) for c in coordinators])

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]

    def errors(self) -> list[Event]:
        return [
            e for e in self.events if e.name == "error.occurred" and e["type"] == "offsets.commit"
        ]


def test_a_point_is_recorded_once_and_committed_once_per_interval() -> None:
    first, second = FakeCoordinator(KEY, 5), FakeCoordinator(OTHER, 9)
    s = Setup(first, second)
    s.record(first, second)
    s.record(first, second)  # notified again, nothing moved
    assert [e["offsets"] for e in s.named("offsets.stored")] == [{KEY: 5, OTHER: 9}]
    assert first.encoded == 0  # recording does not encode the metadata
    s.committer.commit_recorded(s.client)
    ((offsets, asynchronous),) = s.client.commits
    assert sorted(offsets) == [("t", 0, 5, None), ("t", 1, 9, None)]
    assert asynchronous
    s.committer.commit_recorded(s.client)  # nothing new: nothing sent
    assert len(s.client.commits) == 1


def test_a_new_revision_at_the_same_offset_is_recorded_and_its_metadata_sent() -> None:
    coordinator = FakeCoordinator(KEY, 5, metadata="v1")
    s = Setup(coordinator)
    s.record(coordinator)
    s.committer.commit_recorded(s.client)
    coordinator.revision, coordinator.metadata = 1, "v2"  # more finished above the point
    s.record(coordinator)
    s.committer.commit_recorded(s.client)
    assert [offsets for offsets, _ in s.client.commits] == [
        [("t", 0, 5, "v1")],
        [("t", 0, 5, "v2")],
    ]
    assert len(s.named("offsets.stored")) == 2


def test_the_point_committed_is_the_one_standing_when_the_commit_is_sent() -> None:
    coordinator = FakeCoordinator(KEY, 5)
    s = Setup(coordinator)
    s.record(coordinator)
    coordinator.offset = 8  # moved on, not notified yet
    s.committer.commit_recorded(s.client)
    assert s.client.commits == [([("t", 0, 8, None)], True)]


def test_a_failed_asynchronous_commit_is_sent_again_at_the_next_interval() -> None:
    coordinator = FakeCoordinator(KEY, 5)
    s = Setup(coordinator)
    s.record(coordinator)
    s.client.fail = KafkaException(REBALANCING)
    s.committer.commit_recorded(s.client)
    (error,) = s.errors()
    assert error["asynchronous"] is True
    assert error["offsets"] == {KEY: 5}
    s.committer.commit_recorded(s.client)
    assert [offsets for offsets, _ in s.client.commits] == [[("t", 0, 5, None)]] * 2
    s.committer.commit_recorded(s.client)  # succeeded: not sent a third time
    assert len(s.client.commits) == 2


def test_partitions_an_on_commit_reports_failed_are_sent_again_only_for_the_current_client() -> (
    None
):
    first, second = FakeCoordinator(KEY, 5), FakeCoordinator(OTHER, 9)
    s = Setup(first, second)
    failed = CommitResult(committed={OTHER: 9}, failed={KEY: (5, REBALANCING)})
    s.record(first, second)
    s.committer.commit_recorded(s.client)
    s.committer.committed(failed, current=False)  # a closing client's callback
    s.committer.commit_recorded(s.client)
    assert len(s.client.commits) == 1
    s.committer.committed(failed, current=True)
    assert s.named("offsets.committed")[-1]["offsets"] == {OTHER: 9}
    assert s.errors()[-1]["errors"] == {KEY: REBALANCING}
    s.committer.commit_recorded(s.client)
    assert s.client.commits[-1] == ([("t", 0, 5, None)], True)


def test_nothing_is_committed_for_a_partition_that_left() -> None:
    first, second = FakeCoordinator(KEY, 5), FakeCoordinator(OTHER, 9)
    s = Setup(first, second)
    s.record(first, second)
    s.committer.forget(KEY)
    del s.coordinators[KEY]
    s.committer.commit_recorded(s.client)
    assert s.client.commits == [([("t", 1, 9, None)], True)]
    # A failure reported afterwards does not bring it back either.
    s.committer.committed(CommitResult(failed={KEY: (5, REBALANCING)}), current=True)
    s.committer.commit_recorded(s.client)
    assert len(s.client.commits) == 1


def test_after_a_reset_the_same_point_is_recorded_again() -> None:
    coordinator = FakeCoordinator(KEY, 5)
    s = Setup(coordinator)
    s.record(coordinator)
    s.committer.commit_recorded(s.client)
    s.committer.reset(KEY)  # sought back (or assigned again) to where it stood
    s.record(coordinator)
    assert len(s.named("offsets.stored")) == 2
    s.committer.commit_recorded(s.client)
    assert len(s.client.commits) == 2


def test_a_reset_partition_is_not_committed_before_it_records_a_point() -> None:
    coordinator = FakeCoordinator(KEY, 5)
    s = Setup(coordinator)
    s.record(coordinator)
    s.committer.reset(KEY)  # sought: the recorded point is from before the seek
    s.committer.commit_recorded(s.client)
    assert s.client.commits == []


def test_a_synchronous_commit_reports_what_the_broker_said() -> None:
    s = Setup()
    offsets = [TopicPartition("t", 0, 5)]
    assert s.committer.commit(s.client, offsets)
    assert s.named("offsets.committed")[-1]["offsets"] == {KEY: 5}
    s.client.fail = KafkaException(KafkaError(KafkaError._NO_OFFSET))
    assert s.committer.commit(s.client, offsets)  # nothing to commit is no failure
    s.client.fail = KafkaException(REBALANCING)
    assert not s.committer.commit(s.client, offsets)
    (error,) = s.errors()
    assert error["asynchronous"] is False
    assert error["offsets"] == {KEY: 5}


def test_a_consumers_request_is_committed_synchronously_if_the_partition_is_still_assigned() -> (
    None
):
    assigned, gone = FakeCoordinator(KEY, 5, metadata="m"), FakeCoordinator(OTHER, 9)
    s = Setup(assigned)
    mine = s.committer.request(assigned)
    other = s.committer.request(gone)
    assert not mine.done()
    s.committer.serve_requests(s.client)
    assert mine.result(0) is True
    assert other.result(0) is False
    assert s.client.commits == [([("t", 0, 5, "m")], False)]


def test_the_commit_offset_carries_metadata_only_when_there_is_some() -> None:
    assert commit_offset(KEY, (5, "")).metadata is None
    assert commit_offset(KEY, (5, "x")).metadata == "x"
    assert (commit_offset(KEY, (5, "")).topic, commit_offset(KEY, (5, "")).offset) == ("t", 5)
