"""``parafka.testing`` offset reads retry transient broker errors within a bound, raise a clear
error after it, and raise other errors at once (a fake ``Consumer`` stands in for the client)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import parafka.testing.kafka as testing
from parafka.testing import OffsetsUnavailable, committed_offsets, end_offsets, transient


class _Topic:
    def __init__(self, partitions: int) -> None:
        self.partitions = {p: object() for p in range(partitions)}
        self.error: KafkaError | None = None


class _Metadata:
    def __init__(self, topic: str, partitions: int) -> None:
        self.topics = {topic: _Topic(partitions)} if partitions else {}


class FakeConsumer:
    """Answers from scripts: each call takes the next item; an exception item is raised."""

    watermarks: ClassVar[list[Any]] = []
    metadata: ClassVar[list[Any]] = []
    committed_answers: ClassVar[list[Any]] = []
    calls: ClassVar[dict[str, int]] = {}
    closed = 0

    def __init__(self, _config: dict[str, Any]) -> None:
        pass

    @classmethod
    def _next(cls, name: str, script: list[Any]) -> Any:
        cls.calls[name] = cls.calls.get(name, 0) + 1
        item = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def list_topics(self, topic: str, timeout: float) -> Any:
        return self._next("list_topics", self.metadata)

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        high: int = self._next("watermarks", self.watermarks)
        return 0, high + tp.partition

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[Any]:
        answer: list[Any] = self._next("committed", self.committed_answers)
        return answer

    def close(self) -> None:
        FakeConsumer.closed += 1


class _Committed:
    """A ``TopicPartition`` as ``Consumer.committed`` returns it (its ``error`` is read-only)."""

    def __init__(self, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self.partition, self.offset, self.error = partition, offset, error


def _error(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


@pytest.fixture(autouse=True)
def fake_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "Consumer", FakeConsumer)
    monkeypatch.setattr(testing, "_RETRY_PAUSE", 0.01)
    FakeConsumer.calls = {}
    FakeConsumer.closed = 0
    FakeConsumer.metadata = [_Metadata("t", 2)]


@pytest.mark.parametrize(
    "code",
    [KafkaError._UNKNOWN_PARTITION, KafkaError._TRANSPORT, KafkaError.LEADER_NOT_AVAILABLE],
)
def test_end_offsets_retries_transient_errors_until_the_broker_answers(code: int) -> None:
    FakeConsumer.watermarks = [_error(code), _error(code), _error(code), 40]
    assert end_offsets("127.0.0.1:1", "t", timeout=5.0) == {0: 40, 1: 41}
    assert FakeConsumer.calls["watermarks"] == 5  # three failures, then both partitions
    assert FakeConsumer.closed == 1


def test_end_offsets_waits_for_the_topic_to_appear_in_metadata() -> None:
    FakeConsumer.metadata = [_Metadata("t", 0), _Metadata("t", 0), _Metadata("t", 3)]
    FakeConsumer.watermarks = [7]
    assert end_offsets("127.0.0.1:1", "t", timeout=5.0) == {0: 7, 1: 8, 2: 9}
    assert FakeConsumer.calls["list_topics"] == 3


def test_end_offsets_gives_up_after_the_bound_with_a_clear_error() -> None:
    FakeConsumer.metadata = [_Metadata("orders", 1)]
    FakeConsumer.watermarks = [_error(KafkaError._UNKNOWN_PARTITION)]
    began = time.monotonic()
    with pytest.raises(OffsetsUnavailable) as raised:
        end_offsets("127.0.0.1:1", "orders", timeout=0.5)
    assert time.monotonic() - began < 3.0
    text = str(raised.value)
    assert "end offsets of orders" in text
    assert "after 0.5 s" in text
    assert "_UNKNOWN_PARTITION" in text
    assert isinstance(raised.value.__cause__, KafkaException)
    assert FakeConsumer.calls["watermarks"] > 3
    assert FakeConsumer.closed == 1


def test_end_offsets_raises_other_errors_at_once() -> None:
    FakeConsumer.watermarks = [_error(KafkaError.TOPIC_AUTHORIZATION_FAILED), 5]
    with pytest.raises(KafkaException) as raised:
        end_offsets("127.0.0.1:1", "t", timeout=5.0)
    assert not isinstance(raised.value, OffsetsUnavailable)
    assert FakeConsumer.calls["watermarks"] == 1


def test_committed_offsets_retry_per_partition_errors() -> None:
    failed = _Committed(0, -1001, KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
    FakeConsumer.committed_answers = [
        _error(KafkaError._TIMED_OUT),
        [failed, _Committed(1, 3)],
        [_Committed(0, 9), _Committed(1, 3)],
    ]
    assert committed_offsets("127.0.0.1:1", "g", "t", 2, timeout=5.0) == {0: 9, 1: 3}
    assert FakeConsumer.calls["committed"] == 3


def test_transient_tells_errors_apart() -> None:
    assert transient(_error(KafkaError._UNKNOWN_PARTITION))
    assert transient(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
    assert not transient(_error(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert not transient(KafkaException("no KafkaError inside"))
