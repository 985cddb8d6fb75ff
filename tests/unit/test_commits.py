"""Commits: the interval setting, the client settings parafka manages, and reading a commit's
result (which partitions it committed, which failed and why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

import parafka
from parafka.config import commit_interval
from parafka.connection.client import client_config
from parafka.connection.commits import read_commit

BOOT = {"bootstrap.servers": "127.0.0.1:1"}


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


# -- auto.commit.interval.ms -----------------------------------------------------------------


def test_the_commit_interval_defaults_to_one_second() -> None:
    config = client_config(BOOT, "g")
    assert config["auto.commit.interval.ms"] == 1000
    assert commit_interval(config, "here") == 1.0


@pytest.mark.parametrize(("value", "seconds"), [(250, 0.25), ("5000", 5.0), (" 10 ", 0.01)])
def test_a_commit_interval_of_the_user_is_kept(value: Any, seconds: float) -> None:
    config = client_config({**BOOT, "auto.commit.interval.ms": value}, "g")
    assert config["auto.commit.interval.ms"] == value
    assert commit_interval(config, "here") == seconds


@pytest.mark.parametrize("value", [0, -5, 1.5, "1.5", "", "soon", True, None, 86_400_001, "²"])
def test_a_bad_commit_interval_is_refused_naming_the_setting(value: Any) -> None:
    with pytest.raises(parafka.ConfigurationError) as info:
        parafka.App(kafka={**BOOT, "auto.commit.interval.ms": value})
    assert "'auto.commit.interval.ms'" in str(info.value)
    assert "App(kafka=...)" in str(info.value)


def test_a_bad_commit_interval_of_one_topic_is_refused_naming_the_topic() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError) as info:
        app.topic("orders", Noop, kafka={"auto.commit.interval.ms": 0})
    assert "'auto.commit.interval.ms'" in str(info.value)
    assert "orders" in str(info.value)


@pytest.mark.parametrize("key", ["enable.auto.commit", "auto.commit.enable"])
def test_auto_commit_is_managed_by_parafka(key: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as info:
        parafka.App(kafka={**BOOT, key: True})
    assert f"{key!r} is managed by parafka" in str(info.value)
    assert "auto.commit.interval.ms" in str(info.value)


def test_librdkafka_neither_stores_nor_commits_on_its_own() -> None:
    config = client_config({**BOOT, "auto.commit.interval.ms": 300}, "g")
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False


# -- reading a commit's result ---------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A commit result's partition (``TopicPartition.error`` cannot be set from Python)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None


def tp(partition: int, offset: int, error: KafkaError | None = None) -> Part:
    return Part("t", partition, offset, error)


TOO_LARGE = KafkaError(KafkaError.OFFSET_METADATA_TOO_LARGE)
NO_OFFSET = KafkaError(KafkaError._NO_OFFSET)
REBALANCING = KafkaError(KafkaError.REBALANCE_IN_PROGRESS)


def test_a_successful_commit_reports_every_offset_committed() -> None:
    result = read_commit(None, [tp(0, 5), tp(1, 7)])
    assert result.committed == {("t", 0): 5, ("t", 1): 7}
    assert result.failed == {}
    assert result.ok
    assert result.first_error() is None


def test_a_partition_error_fails_that_partition_only() -> None:
    result = read_commit(None, [tp(0, 5, TOO_LARGE), tp(1, 7)])
    assert result.committed == {("t", 1): 7}
    assert result.failed == {("t", 0): (5, TOO_LARGE)}
    assert not result.ok
    assert result.first_error() == TOO_LARGE


def test_a_failed_request_commits_nothing() -> None:
    result = read_commit(REBALANCING, [tp(0, 5), tp(1, 7, TOO_LARGE)])
    assert result.committed == {}
    assert result.failed == {("t", 0): (5, REBALANCING), ("t", 1): (7, TOO_LARGE)}
    assert result.first_error() in (REBALANCING, TOO_LARGE)


def test_a_failed_request_without_partitions_is_still_a_failure() -> None:
    result = read_commit(REBALANCING, [])
    assert not result.ok
    assert result.error == REBALANCING
    assert result.first_error() == REBALANCING


def test_no_offset_is_not_an_error() -> None:
    assert read_commit(NO_OFFSET, []).ok
    result = read_commit(None, [tp(0, 5, NO_OFFSET), tp(1, 7)])
    assert result.ok
    assert result.committed == {("t", 1): 7}  # nothing was committed for partition 0


def test_an_invalid_offset_is_not_reported_committed() -> None:
    result = read_commit(None, [tp(0, TopicPartition("t", 0).offset)])  # -1001: none
    assert result.ok
    assert result.committed == {}
