"""The local broker's SASL/SSL options: validation and settings, without starting a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from parafka.broker import LocalBroker
from parafka.broker.local import server_properties
from parafka.broker.security import ScramUser, SslCertificate
from parafka.cli import main
from parafka.errors import BrokerError
from tests.certificates import TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_a_user_spec_is_name_colon_password() -> None:
    user = ScramUser.parse("alice:s3cret:with=colon")
    assert (user.name, user.password) == ("alice", "s3cret:with=colon")
    assert "s3cret" not in repr(user)
    assert user.storage_argument() == 'SCRAM-SHA-512=[name=alice,password="s3cret:with=colon"]'


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("alice", "NAME:PASSWORD"),
        ("alice:", "NAME:PASSWORD"),
        (":hunter2", "NAME:PASSWORD"),
        ("al ice:hunter2", "SCRAM user name 'al ice'"),
        ("alice:hun,ter2", "must be printable and contain none of"),
        ('alice:hun"ter2', "must be printable and contain none of"),
        ("alice:hun]ter2", "must be printable and contain none of"),
        ("alice:hun\nter2", "must be printable and contain none of"),
    ],
)
def test_a_malformed_user_spec_is_named_without_its_password(spec: str, problem: str) -> None:
    with pytest.raises(BrokerError, match=problem) as caught:
        ScramUser.parse(spec)
    assert "hun" not in str(caught.value)
    assert "ter2" not in str(caught.value)


def test_the_keystore_is_the_key_then_the_certificate(tls: TlsFiles) -> None:
    pem = SslCertificate(tls.certificate, tls.key).keystore_pem()
    assert pem.index("-----BEGIN PRIVATE KEY-----") < pem.index("-----BEGIN CERTIFICATE-----")


def test_bad_certificate_files_are_named(tls: TlsFiles, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(BrokerError, match=r"cannot read the SSL certificate .*missing\.pem"):
        SslCertificate(missing, tls.key).keystore_pem()
    with pytest.raises(BrokerError, match="holds no PEM certificate"):
        SslCertificate(tls.key, tls.key).keystore_pem()
    with pytest.raises(BrokerError, match="holds no PKCS#8 PEM key"):
        SslCertificate(tls.certificate, tls.certificate).keystore_pem()
    legacy = tmp_path / "legacy.key"
    legacy.write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(BrokerError, match="RSA key in the old format: convert it to PKCS#8"):
        SslCertificate(tls.certificate, legacy).keystore_pem()
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n")
    with pytest.raises(BrokerError, match="is encrypted"):
        SslCertificate(tls.certificate, encrypted).keystore_pem()


def test_secured_listeners_are_added_beside_plaintext(tmp_path: Path) -> None:
    properties = server_properties(
        port=1,
        controller_port=2,
        data_dir=tmp_path,
        overrides={},
        sasl_port=3,
        ssl_port=4,
        keystore=tmp_path / "keystore.pem",
    )
    assert properties["listeners"] == (
        "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:3,SSL://127.0.0.1:4,"
        "CONTROLLER://127.0.0.1:2"
    )
    assert properties["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:3,SSL://127.0.0.1:4"
    )
    assert properties["inter.broker.listener.name"] == "PLAINTEXT"
    assert properties["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"
    )
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert properties["ssl.keystore.type"] == "PEM"
    assert properties["ssl.keystore.location"] == str(tmp_path / "keystore.pem")


def test_without_options_only_plaintext_is_opened(tmp_path: Path) -> None:
    properties = server_properties(port=1, controller_port=2, data_dir=tmp_path, overrides={})
    assert "SASL" not in properties["listeners"]
    assert "ssl.keystore.location" not in properties


def test_inconsistent_start_options_fail_before_anything_runs(
    tmp_path: Path, tls: TlsFiles
) -> None:
    broker = LocalBroker("options", tmp_path)
    with pytest.raises(BrokerError, match="SASL port was given but no SCRAM user"):
        broker.start(sasl_port=12345)
    with pytest.raises(BrokerError, match="SSL port was given but no SSL certificate"):
        broker.start(ssl_port=12345)
    with pytest.raises(BrokerError, match="SCRAM user 'alice' is given twice"):
        broker.start(scram_users=[ScramUser("alice", "a"), ScramUser("alice", "b")])
    with pytest.raises(BrokerError, match="holds no PEM certificate"):
        broker.start(ssl=SslCertificate(tls.key, tls.key))
    assert not (tmp_path / "brokers" / "options").exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--scram-user", "alice:"], "NAME:PASSWORD"),
        (["--ssl-key", "server.key"], "--ssl-certificate is missing"),
        (["--ssl-certificate", "server.pem"], "--ssl-key is missing"),
    ],
)
def test_the_cli_names_bad_security_options(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(main, ["broker", "start", "--name", "never-started", *args])
    assert result.exit_code == 2
    assert problem in result.stderr
