"""Which librdkafka errors stop the app as security failures, and what the error says."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from parafka.connection.client import build_client
from parafka.connection.security import SecurityErrorCallback, security_failure
from parafka.errors import (
    AuthenticationFailed,
    ConfigurationError,
    SecurityError,
    SslHandshakeFailed,
)

PASSWORD = "canary-Pa55word"
SASL = {
    "bootstrap.servers": "127.0.0.1:9",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "alice",
    "sasl.password": PASSWORD,
}
AUTH = KafkaError(
    KafkaError._AUTHENTICATION,
    "sasl_plaintext://127.0.0.1:9/bootstrap: SASL authentication error: Authentication failed "
    "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 "
    "(after 311ms in state AUTH_REQ)",
)
SSL = KafkaError(
    KafkaError._SSL,
    "ssl://127.0.0.1:9/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
    "certificate verify failed (after 7ms in state SSL_HANDSHAKE)",
)


def test_a_refused_login_names_the_user_broker_and_settings_but_not_the_password() -> None:
    failure = security_failure(AUTH, SASL, "consumer group 'g'")
    assert isinstance(failure, AuthenticationFailed)
    text = str(failure)
    assert text.startswith("consumer group 'g': authentication failed for user 'alice' with ")
    assert "SCRAM-SHA-512 at sasl_plaintext://127.0.0.1:9 " in text
    assert "invalid credentials" in text
    assert text.endswith("check sasl.username/sasl.password (and sasl.mechanism)")
    assert PASSWORD not in text


def test_a_password_echoed_by_librdkafka_is_masked() -> None:
    echoed = KafkaError(KafkaError._AUTHENTICATION, f"login with {PASSWORD} refused")
    failure = security_failure(echoed, SASL, "here")
    assert failure is not None
    assert PASSWORD not in str(failure)
    assert "login with *** refused" in str(failure)


def test_a_failed_tls_handshake_points_at_the_ca_setting() -> None:
    failure = security_failure(SSL, {"security.protocol": "SSL"}, "consumer group 'g'")
    assert isinstance(failure, SslHandshakeFailed)
    assert "the SSL handshake failed at ssl://127.0.0.1:9 " in str(failure)
    assert "certificate verify failed" in str(failure)
    assert "check ssl.ca.location" in str(failure)


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._TRANSPORT,  # also a broker restarting mid-handshake: retried
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
    ],
)
def test_other_connection_errors_are_left_to_librdkafkas_retries(code: int) -> None:
    assert security_failure(KafkaError(code, "x"), SASL, "here") is None


def test_the_callback_raises_once_and_always_calls_the_users_callback() -> None:
    seen: list[int] = []
    callback = SecurityErrorCallback(SASL, "here", lambda error: seen.append(error.code()))
    callback(KafkaError(KafkaError._ALL_BROKERS_DOWN, "down"))
    with pytest.raises(AuthenticationFailed):
        callback(AUTH)
    callback(AUTH)  # e.g. again while the client closes: reported once is enough
    assert isinstance(callback.raised, SecurityError)
    assert seen == [KafkaError._ALL_BROKERS_DOWN, *[KafkaError._AUTHENTICATION] * 2]
    assert PASSWORD not in repr(callback)


def test_an_error_cb_that_is_not_callable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'error_cb' must be callable"):
        build_client({"bootstrap.servers": "127.0.0.1:9", "group.id": "g", "error_cb": 3}, "here")
