"""The local broker's optional secured listeners: SASL_PLAINTEXT with SCRAM-SHA-512, and SSL.

Pure: validation and the broker settings they need; :class:`~parafka.broker.LocalBroker` writes
the files and runs the tools. Inter-broker and controller traffic stay on PLAINTEXT.

Passwords are kept out of ``repr``, of ``broker.json`` (only user names are recorded), of
``server.properties`` and of every command line: SCRAM credentials are seeded when the data
directory is formatted (``kafka-storage format --add-scram``, whose arguments the local broker
passes in a private Java argument file), so they exist before the broker accepts clients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from parafka.errors import BrokerError

__all__ = ["SCRAM_MECHANISM", "ScramUser", "SslCertificate", "listener_properties"]

#: The one SASL mechanism the local broker enables.
SCRAM_MECHANISM = "SCRAM-SHA-512"
_NAME_RE = re.compile(r"[A-Za-z0-9._@-]+")
_PASSWORD_FORBIDDEN = (",", "[", "]", '"', "\\")
_SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class ScramUser:
    """A SCRAM-SHA-512 user of the local broker; the password never appears in ``repr``."""

    name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise BrokerError(
                f"SCRAM user name {self.name!r} must be letters, digits, '.', '_', '@' or '-'"
            )
        if not isinstance(self.password, str) or not self.password:
            raise BrokerError(f"SCRAM user {self.name!r} needs a non-empty password")
        # kafka-storage's --add-scram splits its argument at ',' and ']' and strips '"'.
        if any(c in self.password for c in _PASSWORD_FORBIDDEN) or not self.password.isprintable():
            raise BrokerError(
                f"the password of SCRAM user {self.name!r} must be printable and contain none "
                f"of {' '.join(_PASSWORD_FORBIDDEN)}"
            )

    @classmethod
    def parse(cls, spec: str) -> ScramUser:
        """``"name:password"`` (the password may itself contain ':')."""
        name, sep, password = spec.partition(":")
        if not sep or not name or not password:
            raise BrokerError(
                "a SCRAM user is given as NAME:PASSWORD (e.g. alice:alice-secret); got "
                f"{_masked_spec(spec)!r}"
            )
        return cls(name, password)

    def storage_argument(self) -> str:
        """The value of ``kafka-storage format --add-scram`` for this user."""
        return f'{SCRAM_MECHANISM}=[name={self.name},password="{self.password}"]'


def _masked_spec(spec: str) -> str:
    name, sep, _password = spec.partition(":")
    return f"{name}:***" if sep else spec[:2] + "***"


@dataclass(frozen=True)
class SslCertificate:
    """The SSL listener's certificate (PEM, the server's first, then any chain) and its
    unencrypted PKCS#8 private key (PEM). The broker reads them as a ``PEM`` keystore."""

    certificate: Path
    key: Path = field(repr=False)

    def keystore_pem(self) -> str:
        """Key and certificate chain in one PEM text, checked; raise naming the problem."""
        certificate = _read(self.certificate, "SSL certificate")
        key = _read(self.key, "SSL private key")
        if "-----BEGIN CERTIFICATE-----" not in certificate:
            raise BrokerError(f"SSL certificate {self.certificate} holds no PEM certificate")
        if "PRIVATE KEY-----" in certificate:
            raise BrokerError(
                f"SSL certificate {self.certificate} also holds a private key; give the key "
                "in its own file"
            )
        if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key:
            raise BrokerError(
                f"SSL private key {self.key} is encrypted; the local broker needs it "
                "unencrypted (openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)"
            )
        if "-----BEGIN PRIVATE KEY-----" not in key:
            legacy = re.search(r"-----BEGIN (RSA|EC|DSA) PRIVATE KEY-----", key)
            hint = (
                f"; it is a {legacy[1]} key in the old format: convert it to PKCS#8 "
                "(openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)"
                if legacy
                else ""
            )
            raise BrokerError(f"SSL private key {self.key} holds no PKCS#8 PEM key{hint}")
        blocks = re.findall(
            r"-----BEGIN (?:PRIVATE KEY|CERTIFICATE)-----.+?-----END (?:PRIVATE KEY|CERTIFICATE)"
            r"-----",
            key + "\n" + certificate,
            flags=re.DOTALL,
        )
        return "\n".join(blocks) + "\n"


def _read(path: Path, what: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"cannot read the {what} {path}: {exc}") from exc


def check_users(users: Iterable[ScramUser]) -> tuple[ScramUser, ...]:
    """The users as a tuple; raise on duplicates or on something that is not a ScramUser."""
    checked = tuple(users)
    seen: set[str] = set()
    for user in checked:
        if not isinstance(user, ScramUser):
            raise BrokerError(
                f"scram_users must hold ScramUser(name, password) objects, got {type(user)!r}"
            )
        if user.name in seen:
            raise BrokerError(f"SCRAM user {user.name!r} is given twice")
        seen.add(user.name)
    return checked


def listener_properties(
    *, host: str, sasl_port: int | None, ssl_port: int | None, keystore: Path | None
) -> tuple[list[str], dict[str, str]]:
    """The extra ``NAME://host:port`` listeners and the settings that configure them."""
    listeners: list[str] = []
    settings: dict[str, str] = {}
    if sasl_port is not None:
        listeners.append(f"SASL_PLAINTEXT://{host}:{sasl_port}")
        settings["sasl.enabled.mechanisms"] = SCRAM_MECHANISM
        key = f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"
        settings[key] = _SCRAM_JAAS
    if ssl_port is not None:
        if keystore is None:
            raise BrokerError("an SSL listener needs a certificate and its private key")
        listeners.append(f"SSL://{host}:{ssl_port}")
        settings.update(
            {
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(keystore),
                "ssl.client.auth": "none",
            }
        )
    return listeners, settings
