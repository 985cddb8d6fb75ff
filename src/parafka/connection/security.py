"""librdkafka errors that mean a connection's security settings are wrong: they stop the app.

librdkafka reports a refused SASL login (``_AUTHENTICATION``: wrong user or password, or a
mechanism the broker does not enable) and a failed TLS handshake (``_SSL``: the broker's
certificate is not signed by the CA in ``ssl.ca.location``, or does not name the host) only to
``error_cb``, never as fatal errors nor through ``consume()``, and retries them forever (every
~0.35 s for a wrong password, every ~50 ms for an untrusted certificate, seen with librdkafka
2.16 against Kafka 4.1). Retrying cannot fix a configuration, so parafka treats the first one as
fatal: the listener stops and ``app.critical_error`` says which settings to check.

Not fatal: ``_TRANSPORT`` errors, even during a TLS handshake (a broker restarting closes
connections that way too; an SSL client on a PLAINTEXT port also shows up as one).

Threads: :class:`SecurityErrorCallback` runs on the listener thread, inside ``consume()`` or
``close()``; confluent-kafka re-raises what it raises from that call, which takes the listener's
critical-error path. It raises once; later reports (e.g. during ``close()``) only reach the
user's own ``error_cb``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from parafka.config import is_secret
from parafka.errors import AuthenticationFailed, SecurityError, SslHandshakeFailed

__all__ = ["SecurityErrorCallback", "security_failure"]

_BROKER_RE = re.compile(r"^(?P<broker>[a-z_]+://[^/\s]+)/\S+: ")


def security_failure(
    error: KafkaError, config: Mapping[str, Any], where: str
) -> SecurityError | None:
    """The error to stop with if ``error`` means the security settings are wrong, else None.

    The message names the broker, the user (never the password) and the settings to check.
    """
    code = error.code()
    if code not in (KafkaError._AUTHENTICATION, KafkaError._SSL):
        return None
    detail = _redact(error.str(), config)
    match = _BROKER_RE.match(detail)
    broker = ""
    if match:  # "sasl_plaintext://host:port/bootstrap: ..." -> " at sasl_plaintext://host:port"
        broker, detail = f" at {match['broker']}", detail[match.end() :]
    if code == KafkaError._AUTHENTICATION:
        user = config.get("sasl.username")
        mechanism = config.get("sasl.mechanism", config.get("sasl.mechanisms", "GSSAPI"))
        who = f"user {user!r}" if user else "the client"
        return AuthenticationFailed(
            f"{where}: authentication failed for {who} with {mechanism}{broker} "
            f"({error.name()}: {detail}); check sasl.username/sasl.password "
            "(and sasl.mechanism)"
        )
    return SslHandshakeFailed(
        f"{where}: the SSL handshake failed{broker} ({error.name()}: {detail}); check "
        "ssl.ca.location (the CA that signed the broker's certificate), that the certificate "
        "names the host in bootstrap.servers (ssl.endpoint.identification.algorithm), and "
        "security.protocol"
    )


def _redact(text: str, config: Mapping[str, Any]) -> str:
    for key, value in config.items():
        if is_secret(key) and str(value):
            text = text.replace(str(value), "***")
    return text


class SecurityErrorCallback:
    """The ``error_cb`` of parafka's consumers: calls the user's ``error_cb`` (if any), then
    raises the first :func:`security_failure` (listener thread, inside ``consume()``)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        where: str,
        user_callback: Callable[[KafkaError], object] | None = None,
    ) -> None:
        self._config = dict(config)
        self._where = where
        self._user_callback = user_callback
        self.raised: SecurityError | None = None  # listener thread only

    def __repr__(self) -> str:
        return f"SecurityErrorCallback({self._where!r})"

    def __call__(self, error: KafkaError) -> None:
        if self._user_callback is not None:
            self._user_callback(error)
        if self.raised is not None:
            return
        failure = security_failure(error, self._config, self._where)
        if failure is not None:
            self.raised = failure
            raise failure
