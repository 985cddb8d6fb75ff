"""Consuming through the local broker's SASL_PLAINTEXT (SCRAM-SHA-512) and SSL listeners, and
a wrong password or an untrusted certificate stopping the app with a clear fatal error.

One broker for this module, with both listeners, certificates made here (``tests/certificates``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient

import parafka
from parafka.broker import BrokerInfo, LocalBroker
from parafka.broker.security import ScramUser, SslCertificate
from parafka.cli import main
from parafka.errors import AuthenticationFailed, BrokerError, SslHandshakeFailed
from parafka.testing import create_topic, produce_messages
from tests.certificates import TlsFiles, make_tls_files
from tests.integration.helpers import committed, running, wait_until

pytestmark = pytest.mark.integration

USER = "alice"
PASSWORD = "alice-Pw:9=canary"  # ':' and '=' must survive the CLI and kafka-storage
WRONG_PASSWORD = "wrong-Pw-canary-7"
MESSAGES = 60


@dataclass(frozen=True)
class SecuredBroker:
    info: BrokerInfo
    tls: TlsFiles
    other_ca: Path  # a CA that did not sign the broker's certificate


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A broker of its own (not the session's) with SASL_PLAINTEXT and SSL listeners."""
    directory = tmp_path_factory.mktemp("tls")
    tls = make_tls_files(directory)
    other = make_tls_files(directory, name="other")
    broker = LocalBroker(f"pytest-{os.getpid()}-security")
    try:
        info = broker.start(
            scram_users=[ScramUser(USER, PASSWORD)],
            ssl=SslCertificate(tls.certificate, tls.key),
        )
    except BrokerError as exc:
        broker.remove()
        pytest.fail(f"could not start the secured Kafka broker: {exc}", pytrace=False)
    try:
        yield SecuredBroker(info, tls, other.ca)
    finally:
        broker.remove()


def sasl_settings(info: BrokerInfo, password: str) -> dict[str, Any]:
    assert info.sasl_bootstrap is not None
    return {
        "bootstrap.servers": info.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": USER,
        "sasl.password": password,
    }


def ssl_settings(info: BrokerInfo, ca: Path) -> dict[str, Any]:
    assert info.ssl_bootstrap is not None
    return {
        "bootstrap.servers": info.ssl_bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",  # the certificate names 127.0.0.1
    }


class Collect(parafka.Consumer):
    """Records every offset it is given (shared through the class, guarded by ``lock``)."""

    lock = threading.Lock()
    seen: dict[str, list[int]] = {}  # noqa: RUF012 - shared on purpose, under lock

    def consume(self, messages: parafka.Messages) -> None:
        with self.lock:
            self.seen.setdefault(self.topic, []).extend(m.offset for m in messages)


def seen(topic: str) -> list[int]:
    with Collect.lock:
        return list(Collect.seen.get(topic, []))


def consume_everything(
    secured: SecuredBroker, kafka: dict[str, Any], unique_name: Callable[[str], str]
) -> None:
    """Produce a batch over PLAINTEXT, consume it with an App over ``kafka``, check commits."""
    topic, group = unique_name("secured"), unique_name("group")
    create_topic(secured.info.bootstrap, topic, partitions=2)
    produce_messages(
        secured.info.bootstrap,
        topic,
        ((str(i).encode(), b"{}", i % 2) for i in range(MESSAGES)),
    )
    app = parafka.App(kafka=kafka, group_id=group, concurrency=2, shutdown_timeout=10)
    app.topic(topic, Collect)
    with running(app):
        wait_until(lambda: len(seen(topic)) >= MESSAGES, 30, f"{MESSAGES} messages consumed")
    assert app.critical_error is None
    assert sorted(seen(topic)) == sorted([i // 2 for i in range(MESSAGES)])
    assert committed(secured.info.bootstrap, group, topic, 2) == {0: 30, 1: 30}


def test_an_app_consumes_through_sasl_scram_sha_512(
    secured: SecuredBroker, unique_name: Callable[[str], str]
) -> None:
    consume_everything(secured, sasl_settings(secured.info, PASSWORD), unique_name)


def test_an_app_consumes_through_ssl_verifying_the_broker_certificate(
    secured: SecuredBroker, unique_name: Callable[[str], str]
) -> None:
    consume_everything(secured, ssl_settings(secured.info, secured.tls.ca), unique_name)


def start_failing_app(kafka: dict[str, Any], topic: str, group: str) -> tuple[parafka.App, float]:
    """Start an app that cannot connect; return it once it has a critical error, and how long
    that took."""
    app = parafka.App(kafka=kafka, group_id=group, shutdown_timeout=10)
    app.topic(topic, Collect)
    began = time.monotonic()
    app.start()
    try:
        wait_until(lambda: app.critical_error is not None, 20, "a critical error")
    except AssertionError:
        app.stop()
        raise
    return app, time.monotonic() - began


def test_a_wrong_password_stops_the_app_with_a_clear_error(
    secured: SecuredBroker,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kafka = {**sasl_settings(secured.info, WRONG_PASSWORD), "debug": "security,broker"}
    app, took = start_failing_app(kafka, unique_name("secured"), unique_name("group"))
    assert app.stop(), "the app should stop cleanly after the fatal error"
    assert not app.running
    error = app.critical_error
    assert isinstance(error, AuthenticationFailed)
    assert str(error).startswith(
        f"consumer group {app.group_id!r}: authentication failed for user 'alice' with "
        f"SCRAM-SHA-512 at sasl_plaintext://{secured.info.sasl_bootstrap}"
    )
    assert "invalid credentials" in str(error)
    assert str(error).endswith("check sasl.username/sasl.password (and sasl.mechanism)")
    # librdkafka reports the first refusal after ~0.3 s; well before any retry loop matters.
    assert took < 10, f"the app took {took:.1f} s to give up"
    for text in (str(error), repr(app), caplog.text):
        assert WRONG_PASSWORD not in text
    assert "authentication failed for user 'alice'" in caplog.text  # the logged critical error


def test_an_untrusted_broker_certificate_stops_the_app_with_a_clear_error(
    secured: SecuredBroker, unique_name: Callable[[str], str]
) -> None:
    kafka = ssl_settings(secured.info, secured.other_ca)
    app, took = start_failing_app(kafka, unique_name("secured"), unique_name("group"))
    assert app.stop()
    error = app.critical_error
    assert isinstance(error, SslHandshakeFailed)
    assert f"the SSL handshake failed at ssl://{secured.info.ssl_bootstrap}" in str(error)
    assert "certificate verify failed" in str(error)
    assert "check ssl.ca.location" in str(error)
    assert took < 10


def test_broker_status_reports_each_listener_without_passwords(secured: SecuredBroker) -> None:
    result = CliRunner().invoke(main, ["broker", "status", "--name", secured.info.name])
    assert result.exit_code == 0, result.output
    assert f"at {secured.info.bootstrap}, " in result.stdout
    assert f"SASL_PLAINTEXT {secured.info.sasl_bootstrap} (SCRAM-SHA-512: alice)" in result.stdout
    assert f"SSL {secured.info.ssl_bootstrap} " in result.stdout
    assert PASSWORD not in result.stdout
    directory = Path(secured.info.directory)
    for recorded in ("broker.json", "server.properties"):
        assert PASSWORD not in (directory / recorded).read_text()
    assert (directory / "keystore.pem").stat().st_mode & 0o077 == 0


def test_the_cli_starts_a_broker_with_both_listeners(
    secured: SecuredBroker, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("cli-secured")[:80]
    try:
        result = CliRunner().invoke(
            main,
            [
                "broker",
                "start",
                "--name",
                name,
                "--scram-user",
                f"bob:{PASSWORD}",
                "--ssl-certificate",
                str(secured.tls.certificate),
                "--ssl-key",
                str(secured.tls.key),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        info = LocalBroker(name).status()
        assert info is not None
        assert result.stdout.strip() == info.bootstrap  # stdout: the PLAINTEXT address alone
        assert f"SASL_PLAINTEXT {info.sasl_bootstrap} (SCRAM-SHA-512: bob)" in result.stderr
        assert f"SSL {info.ssl_bootstrap}" in result.stderr
        assert PASSWORD not in result.output
        for kafka in (
            {**sasl_settings(info, PASSWORD), "sasl.username": "bob"},
            ssl_settings(info, secured.tls.ca),
        ):
            metadata = AdminClient(kafka).list_topics(timeout=15)
            assert len(metadata.brokers) == 1
    finally:
        LocalBroker(name).remove()
