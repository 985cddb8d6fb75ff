"""Configuration errors name the setting; secrets stay out of repr and errors."""

from __future__ import annotations

from typing import Any

import pytest

import parafka
from parafka.instrumentation import Monitor

BOOT = {"bootstrap.servers": "127.0.0.1:1"}


class Noop(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kafka": {}}, "needs 'bootstrap.servers'"),
        ({"kafka": BOOT, "concurrency": 0}, "concurrency must be >= 1"),
        ({"kafka": BOOT, "max_messages": 0}, "max_messages must be >= 1"),
        ({"kafka": BOOT, "max_wait_time": -1}, "max_wait_time must be >= 0"),
        ({"kafka": BOOT, "max_wait_time": "1"}, "max_wait_time must be a number of seconds"),
        (
            {"kafka": BOOT, "max_wait_time": 1.0, "shutdown_timeout": 0.5},
            "shutdown_timeout (0.5) must be >= max_wait",
        ),
        ({"kafka": BOOT, "close_timeout": 0}, "close_timeout must be > 0"),
        ({"kafka": BOOT, "pause_max_timeout": 0.1}, "pause_max_timeout (0.1) must be >="),
        ({"kafka": {**BOOT, "enable.auto.offset.store": True}}, "'enable.auto.offset.store' is"),
        ({"kafka": {**BOOT, "group.id": "x"}}, "'group.id' is managed by parafka"),
        ({"kafka": BOOT, "group_id": ""}, "group_id must be a non-empty string"),
        ({"kafka": BOOT, "concurrency": "4"}, "concurrency must be an integer"),
        ({"kafka": BOOT, "max_backlog_bytes": 0}, "max_backlog_bytes must be >= 1"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as info:
        parafka.App(**kwargs)
    assert message in str(info.value)


def test_a_topic_routed_twice_in_one_group_is_refused() -> None:
    app = parafka.App(kafka=BOOT)
    app.topic("orders", Noop)
    with pytest.raises(parafka.ConfigurationError, match="'orders' is routed twice"):
        app.topic("orders", Noop)
    app.consumer_group("audit").topic("orders", Noop)  # another group may read it


def test_a_consumer_must_be_a_consumer_subclass_with_consume() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError, match=r"subclass of parafka\.Consumer"):
        app.topic("a", object)  # type: ignore[arg-type]

    class Empty(parafka.Consumer):
        pass

    with pytest.raises(parafka.ConfigurationError, match="does not implement consume"):
        app.topic("b", Empty)


def test_unknown_librdkafka_settings_fail_at_start() -> None:
    app = parafka.App(kafka={**BOOT, "no.such.setting": 1})
    app.topic("orders", Noop)
    with pytest.raises(parafka.ConfigurationError, match=r"no\.such\.setting"):
        app.start()


def test_starting_without_routes_is_refused() -> None:
    with pytest.raises(parafka.ConfigurationError, match="no topics are routed"):
        parafka.App(kafka=BOOT).start()


def test_secrets_are_masked_in_repr_and_errors() -> None:
    canary = "canary-s3cret-value"
    kafka = {**BOOT, "sasl.password": canary, "security.protocol": "bogus"}
    app = parafka.App(kafka=kafka)
    app.topic("orders", Noop, kafka={"ssl.key.password": canary})
    assert canary not in repr(app)
    assert canary not in repr(app.routes[0])
    with pytest.raises(parafka.ConfigurationError) as info:
        app.start()
    assert canary not in str(info.value)
    assert "***" in str(info.value)


def test_routes_with_different_kafka_settings_get_separate_connections() -> None:
    app = parafka.App(kafka=BOOT)
    app.topic("a", Noop)
    app.topic("b", Noop)
    app.topic("c", Noop, kafka={"fetch.min.bytes": 10})
    app.topic("d", Noop, subscription_group="own")
    groups = {g.name: g.topics for g in app.subscription_groups()}
    assert groups["default"] == ["a", "b"]
    assert groups["own"] == ["d"]
    assert ["c"] in groups.values()
    assert len(groups) == 3


def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(parafka.ConfigurationError, match=r"unknown event name 'worker\.done'"):
        Monitor().subscribe("worker.done", print)  # type: ignore[arg-type]


def test_dead_letter_queue_errors_name_the_problem() -> None:
    app = parafka.App(kafka=BOOT)
    with pytest.raises(parafka.ConfigurationError, match="cannot be the topic itself"):
        app.topic("orders", Noop, dead_letter_queue=parafka.DeadLetterQueue(topic="orders"))
    with pytest.raises(parafka.ConfigurationError, match=r"max_retries=\.\.\.\) must be an"):
        parafka.DeadLetterQueue(topic="x", max_retries=-1)
    with pytest.raises(parafka.ConfigurationError, match="must be a topic name or None"):
        parafka.DeadLetterQueue(topic="")
    with pytest.raises(parafka.ConfigurationError, match=r"must be a parafka\.DeadLetterQueue"):
        app.topic("a", Noop, dead_letter_queue="orders.dlq")  # type: ignore[arg-type]


def test_per_topic_back_off_bounds_are_checked_and_default_to_the_app() -> None:
    app = parafka.App(kafka=BOOT, pause_timeout=2.0, pause_max_timeout=8.0)
    route = app.topic("a", Noop, pause_timeout=0.5)
    assert (route.pause_timeout, route.pause_max_timeout) == (0.5, 8.0)
    with pytest.raises(parafka.ConfigurationError, match=r"topic 'b': pause_max_timeout \(1"):
        app.topic("b", Noop, pause_timeout=5.0, pause_max_timeout=1.0)
    with pytest.raises(parafka.ConfigurationError, match=r"topic 'c' pause_timeout must be > 0"):
        app.topic("c", Noop, pause_timeout=0)


def test_critical_errors_must_be_exception_classes() -> None:
    with pytest.raises(parafka.ConfigurationError, match="critical_errors must be exception"):
        parafka.App(kafka=BOOT, critical_errors=("ValueError",))  # type: ignore[arg-type]


def test_the_backlog_limit_shrinks_for_large_messages_but_keeps_one_batch() -> None:
    settings = parafka.App(kafka=BOOT, max_messages=10, max_backlog_bytes=1_000_000).settings
    assert settings.backlog_limit == 2000
    assert settings.byte_limit(0, settings.backlog_limit) == 2000  # size not known yet
    assert settings.byte_limit(100, settings.backlog_limit) == 2000  # small: count decides
    assert settings.byte_limit(10_000, settings.backlog_limit) == 100  # 1 MB / 10 KB
    assert settings.byte_limit(5_000_000, settings.backlog_limit) == 10  # one batch at least


def test_subscription_group_names_are_not_derived_from_secret_values() -> None:
    import hashlib
    import json

    class Reader(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            pass

    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:1"})
    first = {"sasl.username": "u", "sasl.password": "correct horse"}
    a = app.topic("a", Reader, kafka=first)
    b = app.topic("b", Reader, kafka={"sasl.username": "u", "sasl.password": "battery staple"})
    c = app.topic("c", Reader, kafka=dict(first))
    assert a.subscription_group == c.subscription_group  # equal settings share a connection
    assert a.subscription_group != b.subscription_group
    raw = "kafka-" + hashlib.sha256(json.dumps(first, sort_keys=True).encode()).hexdigest()[:12]
    assert a.subscription_group != raw  # no digest of the password to brute-force
    assert "correct" not in a.subscription_group


def test_a_memory_budget_that_librdkafkas_prefetch_would_fill_is_refused_at_start() -> None:
    # Two connections x 4 x (16 MiB of librdkafka prefetch, set by the app, + one fetch of
    # 1 MiB, sized from a connection's 24 MiB share) = 136 MiB: more than half of 48 MiB.
    app = parafka.App(
        kafka={**BOOT, "queued.max.messages.kbytes": 16_384}, max_buffered_bytes=48 * 1024 * 1024
    )
    app.topic("orders", Noop)
    app.consumer_group("audit").topic("orders", Noop)
    with pytest.raises(parafka.ConfigurationError) as info:
        app.start()
    text = str(info.value)
    assert "max_buffered_bytes (50,331,648)" in text
    assert "2 connection(s) (142,606,336 bytes" in text
    assert "4 times queued.max.messages.kbytes and fetch.max.bytes" in text
    assert not app.running


def test_librdkafkas_buffers_are_sized_from_each_connections_share_of_the_budget() -> None:
    # The same two connections with librdkafka's buffers left to parafka: a 24 MiB share each
    # gives a 1.5 MiB queue and a 1 MiB fetch, 10 MiB reserved each, 20 of the 48 MiB.
    app = parafka.App(kafka=BOOT, max_buffered_bytes=48 * 1024 * 1024)
    app.topic("orders", Noop)
    app.consumer_group("audit").topic("orders", Noop)
    app.start()
    try:
        assert app.diagnostics().count("librdkafka's reserve 20.0 MiB") == 1
    finally:
        app.stop()


def test_a_large_message_max_bytes_raises_the_fetch_size_parafka_chooses() -> None:
    # parafka's fetch for the budget would be below message.max.bytes, which librdkafka
    # refuses; the fetch takes message.max.bytes instead, and the reserve counts it.
    kafka = {**BOOT, "message.max.bytes": 5_000_000}
    app = parafka.App(kafka=kafka, max_buffered_bytes=128 * 1024 * 1024)
    app.topic("orders", Noop)
    app.start()  # librdkafka accepts the client's settings
    try:
        reserve = 4 * (8 * 1024 * 1024 + 5_000_000) / (1024 * 1024)  # an 8 MiB queue
        assert f"librdkafka's reserve {reserve:.1f} MiB" in app.diagnostics()
    finally:
        app.stop()
    # With 64 MiB, four times (4 MiB + 5,000,000) is more than half: parafka's own refusal.
    small = parafka.App(kafka=kafka, max_buffered_bytes=64 * 1024 * 1024)
    small.topic("orders", Noop)
    with pytest.raises(parafka.ConfigurationError, match=r"\(36,777,216 bytes: 4 times"):
        small.start()


def test_the_memory_budget_must_be_a_positive_integer() -> None:
    with pytest.raises(parafka.ConfigurationError, match="max_buffered_bytes"):
        parafka.App(kafka=BOOT, max_buffered_bytes=0)
    assert parafka.App(kafka=BOOT).buffered_bytes is None
    assert parafka.App(kafka=BOOT, max_buffered_bytes=10**9).buffered_bytes == 0


def test_the_logging_subscriber_listens_only_to_what_it_logs() -> None:
    app = parafka.App(kafka=BOOT)  # log_events=True
    assert app.monitor.listens("error.occurred")
    assert app.monitor.listens("rebalance.assigned")
    # Published once per batch, never logged: not built at all when nobody else listens.
    assert not app.monitor.listens("worker.processed")
    assert not app.monitor.listens("offsets.stored")
    assert not parafka.App(kafka=BOOT, log_events=False).monitor.listens("error.occurred")
