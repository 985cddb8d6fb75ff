"""``App.from_env``: settings converted per type, precedence, named errors, masked secrets."""

from __future__ import annotations

from typing import Any

import confluent_kafka
import pytest

import parafka
import parafka.app
from parafka import environment
from parafka.config import Settings
from parafka.environment import app_arguments, kafka_key

BOOT = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


def from_env(environ: dict[str, str], **overrides: Any) -> parafka.App:
    return parafka.App.from_env(environ={**BOOT, **environ}, **overrides)


def error_of(environ: dict[str, str], **overrides: Any) -> str:
    with pytest.raises(parafka.ConfigurationError) as info:
        parafka.App.from_env(environ=environ, **overrides)
    return str(info.value)


class Fatal(Exception):
    pass


def test_every_app_setting_but_kafka_is_read_from_the_environment() -> None:
    # Derived from App's signature: a new setting needs no change in parafka.environment.
    assert set(app_arguments(parafka.App.__init__)) == {
        "group_id",
        "concurrency",
        "max_messages",
        "max_wait_time",
        "shutdown_timeout",
        "close_timeout",
        "rejoin_timeout",
        "pause_timeout",
        "pause_max_timeout",
        "max_backlog",
        "max_backlog_bytes",
        "max_buffered_bytes",
        "critical_errors",
        "log_events",
        "watchdog_interval",
    }


def test_values_are_converted_to_each_settings_type() -> None:
    app = from_env(
        {
            "PARAFKA_GROUP_ID": "shop",
            "PARAFKA_CONCURRENCY": " 8 ",
            "PARAFKA_MAX_MESSAGES": "50",
            "PARAFKA_MAX_WAIT_TIME": "0.5",
            "PARAFKA_SHUTDOWN_TIMEOUT": "30",
            "PARAFKA_REJOIN_TIMEOUT": "120.5",
            "PARAFKA_PAUSE_TIMEOUT": "2",
            "PARAFKA_PAUSE_MAX_TIMEOUT": "4",
            "PARAFKA_MAX_BACKLOG": "0",
            "PARAFKA_MAX_BACKLOG_BYTES": "1048576",
            "PARAFKA_MAX_BUFFERED_BYTES": "268435456",
            "PARAFKA_CRITICAL_ERRORS": f"MemoryError, {__name__}.Fatal",
            "PARAFKA_WATCHDOG_INTERVAL": "none",
        }
    )
    settings = app.settings
    assert app.group_id == "shop"
    assert settings.concurrency == 8
    assert isinstance(settings.concurrency, int)
    assert settings.max_messages == 50
    assert settings.max_wait_time == 0.5
    assert settings.shutdown_timeout == 30.0
    assert settings.rejoin_timeout == 120.5
    assert (settings.pause_timeout, settings.pause_max_timeout) == (2.0, 4.0)
    assert (settings.max_backlog, settings.max_backlog_bytes) == (0, 1048576)
    assert settings.max_buffered_bytes == 268435456
    assert settings.critical_errors == (MemoryError, Fatal)
    assert settings.watchdog_interval is None
    assert app.workers.size == 8


@pytest.mark.parametrize(
    ("text", "subscribed"),
    [("false", False), ("0", False), ("Off", False), ("true", True), ("YES", True), ("1", True)],
)
def test_flags_read_true_and_false(text: str, subscribed: bool) -> None:
    app = from_env({"PARAFKA_LOG_EVENTS": text})
    assert bool(app.monitor._subscribers) is subscribed


def test_kafka_variables_become_librdkafka_settings() -> None:
    app = from_env(
        {
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_AUTO_OFFSET_RESET": "latest",
            "KAFKA_SESSION_TIMEOUT_MS": "45000",
            "KAFKA_LOG__LEVEL": "3",
            "PATH": "/usr/bin",  # neither prefix: ignored
        }
    )
    assert app.kafka == {
        "bootstrap.servers": "127.0.0.1:1",
        "sasl.mechanism": "PLAIN",
        "auto.offset.reset": "latest",
        "session.timeout.ms": "45000",
        "log_level": "3",
    }


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("BOOTSTRAP_SERVERS", "bootstrap.servers"),
        ("SASL_MECHANISM", "sasl.mechanism"),
        ("AUTO_OFFSET_RESET", "auto.offset.reset"),
        ("LOG__LEVEL", "log_level"),
        ("ENABLED__EVENTS", "enabled_events"),
        ("TOPIC_METADATA_REFRESH_INTERVAL_MS", "topic.metadata.refresh.interval.ms"),
    ],
)
def test_kafka_key_maps_underscores_to_dots_and_doubled_ones_to_underscores(
    name: str, key: str
) -> None:
    assert kafka_key(name) == key


def test_keyword_arguments_win_over_the_environment_which_wins_over_defaults() -> None:
    environ = {
        "PARAFKA_CONCURRENCY": "8",
        "PARAFKA_MAX_MESSAGES": "50",
        "KAFKA_AUTO_OFFSET_RESET": "latest",
        "KAFKA_CLIENT_ID": "from-env",
    }
    app = from_env(environ, concurrency=3, kafka={"client.id": "explicit"})
    assert app.settings.concurrency == 3  # keyword argument
    assert app.settings.max_messages == 50  # environment
    assert app.settings.max_wait_time == Settings().max_wait_time  # default
    # kafka= wins key by key; the other KAFKA_ variables stay.
    assert app.kafka["client.id"] == "explicit"
    assert app.kafka["auto.offset.reset"] == "latest"
    assert app.kafka["bootstrap.servers"] == "127.0.0.1:1"


def test_the_prefixes_are_configurable() -> None:
    environ = {
        "SHOP_CONCURRENCY": "7",
        "SHOP_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:2",
        "PARAFKA_CONCURRENCY": "abc",  # another prefix: not read
        "KAFKA_HEAP_OPTS": "-Xmx1g",  # e.g. a Kafka install's scripts: not read
    }
    app = parafka.App.from_env(prefix="SHOP_", kafka_prefix="SHOP_KAFKA_", environ=environ)
    assert app.settings.concurrency == 7
    assert app.kafka == {"bootstrap.servers": "127.0.0.1:2"}


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:3")
    monkeypatch.setenv("PARAFKA_MAX_MESSAGES", "9")
    app = parafka.App.from_env()
    assert app.settings.max_messages == 9
    assert app.kafka["bootstrap.servers"] == "127.0.0.1:3"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PARAFKA_CONCURRENCY": "abc"}, "PARAFKA_CONCURRENCY: 'abc' is not an integer"),
        ({"PARAFKA_CONCURRENCY": "8.0"}, "PARAFKA_CONCURRENCY: '8.0' is not an integer"),
        ({"PARAFKA_MAX_WAIT_TIME": "soon"}, "PARAFKA_MAX_WAIT_TIME: 'soon' is not a number"),
        ({"PARAFKA_MAX_WAIT_TIME": "nan"}, "PARAFKA_MAX_WAIT_TIME: 'nan' is not a number"),
        ({"PARAFKA_REJOIN_TIMEOUT": "never"}, "PARAFKA_REJOIN_TIMEOUT: 'never' is not a number"),
        ({"PARAFKA_MAX_MESSAGES": "none"}, "PARAFKA_MAX_MESSAGES: 'none' is not an integer"),
        ({"PARAFKA_LOG_EVENTS": "maybe"}, "PARAFKA_LOG_EVENTS: 'maybe' is not a boolean"),
        (
            {"PARAFKA_CRITICAL_ERRORS": "os.path"},
            "PARAFKA_CRITICAL_ERRORS: 'os.path' is not an importable exception class",
        ),
        (
            {"PARAFKA_CRITICAL_ERRORS": "nowhere.Fatal"},
            "PARAFKA_CRITICAL_ERRORS: 'nowhere.Fatal' is not an importable exception class",
        ),
        (
            {"KAFKA_AUTO_OFFSET_RESET": "soonest"},
            "KAFKA_AUTO_OFFSET_RESET: 'soonest' is not a valid value for librdkafka's "
            "'auto.offset.reset'",
        ),
        (
            {"KAFKA_HEAP_OPTS": "-Xmx1g"},
            "KAFKA_HEAP_OPTS: librdkafka has no setting 'heap.opts'",
        ),
        ({"KAFKA_GROUP_ID": "x"}, "KAFKA_GROUP_ID: librdkafka's 'group.id' is managed by parafka"),
        (
            {"KAFKA_AUTO_COMMIT_INTERVAL_MS": "0"},
            "KAFKA_AUTO_COMMIT_INTERVAL_MS: 'auto.commit.interval.ms' must be a whole number",
        ),
    ],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], message: str) -> None:
    assert message in error_of({**BOOT, **environ})


def test_a_value_the_app_refuses_names_the_variables_it_came_from() -> None:
    message = error_of({**BOOT, "PARAFKA_SHUTDOWN_TIMEOUT": "-1"})
    assert message.startswith("shutdown_timeout must be > 0, got -1.0")
    assert "(read from the environment: KAFKA_BOOTSTRAP_SERVERS, PARAFKA_SHUTDOWN_TIMEOUT)" in (
        message
    )


def test_missing_bootstrap_servers_names_the_variable() -> None:
    message = error_of({"PARAFKA_CONCURRENCY": "2"})
    assert "set KAFKA_BOOTSTRAP_SERVERS" in message


def test_unknown_variables_with_the_prefix_are_named_with_a_suggestion() -> None:
    message = error_of({**BOOT, "PARAFKA_CONCURENCY": "8", "PARAFKA_MAX_WAIT": "2"})
    assert "PARAFKA_CONCURENCY (did you mean PARAFKA_CONCURRENCY?)" in message
    assert "PARAFKA_MAX_WAIT (did you mean PARAFKA_MAX_WAIT_TIME?)" in message


def test_an_unknown_variable_like_nothing_gets_no_suggestion() -> None:
    message = error_of({**BOOT, "PARAFKA_ZZZZZZZZZZ": "1"})
    assert "unknown setting in the environment: PARAFKA_ZZZZZZZZZZ;" in message
    assert "did you mean" not in message


def test_variables_other_parts_of_parafka_read_are_not_typos() -> None:
    app = from_env({"PARAFKA_HOME": "/tmp/x", "PARAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert app.kafka == {"bootstrap.servers": "127.0.0.1:1"}


def test_kafka_is_not_an_app_setting_from_the_environment() -> None:
    assert "PARAFKA_KAFKA" in error_of({**BOOT, "PARAFKA_KAFKA": "{}"})


SECRET = "hunter2-s3cret"


def test_librdkafka_refusing_a_secret_value_does_not_echo_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # librdkafka checks no secret's value today (they are free strings), and it echoes refused
    # values in its messages: if it ever refuses one, the value must stay out of the error.
    def refuse(config: dict[str, Any]) -> None:
        raise confluent_kafka.KafkaException(
            confluent_kafka.KafkaError(
                confluent_kafka.KafkaError._INVALID_ARG,
                f'Invalid value "{config["sasl.password"]}" for configuration property '
                '"sasl.password"',
            )
        )

    monkeypatch.setattr(environment.confluent_kafka, "Producer", refuse)
    message = error_of({**BOOT, "KAFKA_SASL_PASSWORD": SECRET})
    assert (
        message == "KAFKA_SASL_PASSWORD: *** is not a valid value for librdkafka's 'sasl.password'"
    )


def test_a_refusal_of_an_unnamed_setting_masks_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(config: dict[str, Any]) -> None:
        raise ValueError(f"bad configuration {config}")

    monkeypatch.setattr(environment.confluent_kafka, "Producer", refuse)
    message = error_of({**BOOT, "KAFKA_SASL_PASSWORD": SECRET, "KAFKA_CLIENT_ID": "shop"})
    assert (
        "librdkafka refuses the settings of KAFKA_BOOTSTRAP_SERVERS, KAFKA_CLIENT_ID, " in message
    )
    assert "'shop'" in message
    assert SECRET not in message


def test_secret_values_never_appear_in_the_apps_repr() -> None:
    app = from_env({"KAFKA_SASL_PASSWORD": SECRET, "KAFKA_SASL_USERNAME": "shop"})
    assert app.kafka["sasl.password"] == SECRET
    assert SECRET not in repr(app)
    assert "'sasl.password': '***'" in repr(app)


def test_a_secret_named_variable_that_does_not_convert_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No App setting is a secret today; a future one (say a token) must stay masked.
    monkeypatch.setattr(parafka.app, "app_arguments", lambda _init: {"api_token": int})
    message = error_of({**BOOT, "PARAFKA_API_TOKEN": SECRET})
    assert message == "PARAFKA_API_TOKEN: *** is not an integer"
