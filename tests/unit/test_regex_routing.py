"""Regex subscriptions (``app.topic("^orders-.*", ...)``): configuration and routing."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

import parafka
from parafka.connection.listener import Listener
from parafka.instrumentation import Event

BOOT = {"bootstrap.servers": "127.0.0.1:1"}


class Orders(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class Europe(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


class Everything(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def test_a_pattern_that_does_not_compile_is_refused_naming_it() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(
        parafka.ConfigurationError, match=r"topic '\^orders-\(': .*does not compile"
    ):
        app.topic("^orders-(", Orders)


def test_exact_names_win_then_patterns_in_declaration_order() -> None:
    app = parafka.App(kafka=BOOT)
    app.topic("^orders-.*", Orders)
    app.topic("orders-eu", Europe)
    app.topic("^.*", Everything)
    (group,) = app.subscription_groups()
    assert group.topics == ["^orders-.*", "orders-eu", "^.*"]
    eu, us, other = group.match("orders-eu"), group.match("orders-us"), group.match("clicks")
    assert eu is not None
    assert eu.consumer is Europe
    assert us is not None
    assert us.consumer is Orders
    assert other is not None
    assert other.consumer is Everything


def test_a_pattern_route_is_bound_to_the_assigned_topic_once() -> None:
    app = parafka.App(kafka=BOOT)
    declared = app.topic("^orders-.*", Orders)
    (group,) = app.subscription_groups()
    bound = group.match("orders-us")
    assert bound is not None
    assert bound.topic == "orders-us"  # what coordinators, consumers and events see
    assert bound.pattern is declared.pattern
    assert group.match("orders-us") is bound  # cached
    assert group.route("orders-us") is bound
    assert declared.topic == "^orders-.*"
    assert "pattern='^orders-.*'" in repr(bound)


def test_a_topic_no_route_matches_is_none_or_a_key_error() -> None:
    app = parafka.App(kafka=BOOT)
    app.topic("^orders-.*", Orders)
    (group,) = app.subscription_groups()
    assert group.match("clicks") is None
    assert group.match("xorders-eu") is None  # anchored at the start, like librdkafka
    with pytest.raises(KeyError):
        group.route("clicks")


def test_only_a_single_concrete_topic_skips_the_per_message_topic() -> None:
    app = parafka.App(kafka=BOOT)
    app.topic("orders", Orders)
    app.consumer_group("b").topic("^orders-.*", Orders)
    single, pattern = app.subscription_groups()
    assert single.single_topic == "orders"
    assert pattern.single_topic is None


def test_a_dead_letter_topic_matching_its_own_pattern_is_refused() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError, match="matches the route's own pattern"):
        app.topic(
            "^orders.*", Orders, dead_letter_queue=parafka.DeadLetterQueue(topic="orders.dlq")
        )
    with pytest.raises(parafka.ConfigurationError, match="must be a topic name, not a pattern"):
        app.topic("orders", Orders, dead_letter_queue=parafka.DeadLetterQueue(topic="^dlq"))
    app.topic("^orders-.*", Orders, dead_letter_queue=parafka.DeadLetterQueue(topic="dlq-orders"))


def test_options_that_need_a_concrete_topic_are_refused_for_patterns() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError, match=r"config= declares one topic"):
        app.topic("^orders-.*", Orders, config=parafka.TopicConfig(partitions=3))


def test_an_assigned_topic_no_route_matches_is_paused_and_reported_not_a_crash() -> None:
    app = parafka.App(kafka=BOOT, log_events=False)
    app.topic("^orders-.*", Orders)
    events: list[Event] = []
    app.monitor.subscribe("error.occurred", events.append)
    critical: list[BaseException] = []
    (group,) = app.subscription_groups()
    listener = Listener(
        group,
        app.kafka,
        app.settings,
        app.workers.jobs,
        app.monitor,
        critical.append,
        thread_name="parafka-listener-test",
    )
    client: Any = listener._handle.client
    try:
        # The rebalance callback, as librdkafka calls it on the listener thread.
        listener._rebalance.on_assign(
            client, [TopicPartition("clicks", 0), TopicPartition("orders-eu", 1)]
        )
        assert list(listener._coordinators) == [("orders-eu", 1)]
        assert listener._coordinators[("orders-eu", 1)].topic == "orders-eu"
        (event,) = events
        assert event["type"] == "listener.unrouted"
        assert (event["topic"], event["partition"]) == ("clicks", 0)
        assert "'clicks' [0] was assigned but matches none of ['^orders-.*']" in str(event["error"])
        assert critical == []
        listener._rebalance.on_revoke(
            client, [TopicPartition("clicks", 0), TopicPartition("orders-eu", 1)]
        )
        assert listener._coordinators == {}
    finally:
        listener.discard()
