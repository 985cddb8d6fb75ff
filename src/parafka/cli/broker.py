"""``parafka broker start|stop|status|logs``: a local Kafka broker for development and tests."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from parafka.broker import DEFAULT_KAFKA_VERSION, BrokerInfo, LocalBroker
from parafka.broker.jars import check_kafka_version
from parafka.broker.security import ScramUser, SslCertificate
from parafka.errors import BrokerAlreadyRunning, BrokerError

_NAME = click.option(
    "--name", default="default", show_default=True, help="Which local broker (several may run)."
)


def _describe(info: BrokerInfo) -> str:
    secured = ""
    if info.sasl_bootstrap:
        users = ", ".join(info.scram_users)
        secured += f", SASL_PLAINTEXT {info.sasl_bootstrap} ({info.sasl_mechanism}: {users})"
    if info.ssl_bootstrap:
        secured += f", SSL {info.ssl_bootstrap}"
    return (
        f"broker {info.name!r}: Kafka {info.kafka_version} at {info.bootstrap}{secured} "
        f"(controller {info.controller_port}, pid {info.pid}, dir {info.directory})"
    )


def _ssl_certificate(certificate: Path | None, key: Path | None) -> SslCertificate | None:
    if certificate is None and key is None:
        return None
    if certificate is None or key is None:
        missing = "--ssl-certificate" if certificate is None else "--ssl-key"
        raise BrokerError(
            f"an SSL listener needs both --ssl-certificate and --ssl-key: {missing} is missing"
        )
    return SslCertificate(certificate, key)


#: The password of every ``--scram-user NAME`` given without one (``..._<NAME>`` wins).
PASSWORD_ENV = "PARAFKA_SCRAM_PASSWORD"


def password_env_name(user: str) -> str:
    """The environment variable holding ``user``'s own password: ``PARAFKA_SCRAM_PASSWORD_``
    and the name in capitals, each character other than a letter or digit as ``_``."""
    return f"{PASSWORD_ENV}_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


def _interactive() -> bool:
    return sys.stdin.isatty()


def _read_password_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        first = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"cannot read the SCRAM password file {path}: {exc}") from exc
    if not first or not first[0]:
        raise BrokerError(f"the SCRAM password file {path} is empty (the first line is used)")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        click.echo(
            f"warning: the SCRAM password file {path} is readable by others (chmod 600 it)",
            err=True,
        )
    return first[0]


def _scram_users(
    specs: tuple[str, ...], password_file: Path | None, env: Mapping[str, str]
) -> list[ScramUser]:
    """The users of ``--scram-user``: ``NAME`` takes its password from ``$PARAFKA_SCRAM_PASSWORD_
    <NAME>``, else ``$PARAFKA_SCRAM_PASSWORD``, else ``--scram-password-file`` (first line),
    else a prompt on a terminal. ``NAME:PASSWORD`` still works, with a warning: the password is
    visible to ``ps`` while the command runs."""
    users = []
    shared = _read_password_file(password_file) if password_file is not None else None
    for spec in specs:
        if ":" in spec:
            user = ScramUser.parse(spec)
            click.echo(
                f"warning: the password of SCRAM user {user.name!r} is on the command line, "
                f"where ps shows it; use --scram-user {user.name} with ${PASSWORD_ENV} or "
                "--scram-password-file instead",
                err=True,
            )
            users.append(user)
            continue
        if not spec:
            raise BrokerError("--scram-user needs a user name")
        password = env.get(password_env_name(spec)) or env.get(PASSWORD_ENV) or shared
        if password is None and _interactive():
            password = click.prompt(f"SCRAM password of {spec}", hide_input=True, err=True)
        if password is None:
            raise BrokerError(
                f"no password for SCRAM user {spec!r}: set ${password_env_name(spec)} or "
                f"${PASSWORD_ENV}, give --scram-password-file FILE, or run in a terminal to be "
                "asked"
            )
        users.append(ScramUser(spec, password))
    return users


def _parse_overrides(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = setting.strip()
    return overrides


@click.group()
def broker() -> None:
    """Run a real single-node Apache Kafka broker on 127.0.0.1 (jars from Maven Central)."""


@broker.command()
@_NAME
@click.option("--port", type=click.IntRange(1, 65535), help="Client port (default: a free one).")
@click.option(
    "--controller-port",
    type=click.IntRange(1, 65535),
    help="KRaft controller port (default: free).",
)
@click.option("--kafka-version", default=DEFAULT_KAFKA_VERSION, show_default=True)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Extra broker setting.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait until ready.")
@click.option(
    "--scram-user",
    "scram_users",
    multiple=True,
    metavar="NAME",
    help=(
        "Open a SASL_PLAINTEXT listener (SCRAM-SHA-512) with this user; repeat for more. "
        f"Password from ${PASSWORD_ENV}_<NAME>, ${PASSWORD_ENV}, --scram-password-file or a "
        "prompt (NAME:PASSWORD works but is visible to ps)."
    ),
)
@click.option(
    "--scram-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file whose first line is the password of the --scram-user NAMEs.",
)
@click.option("--sasl-port", type=click.IntRange(1, 65535), help="SASL port (default: free).")
@click.option(
    "--ssl-certificate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Open an SSL listener with this PEM certificate (chain); needs --ssl-key.",
)
@click.option(
    "--ssl-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SSL certificate's private key (PEM, unencrypted PKCS#8).",
)
@click.option("--ssl-port", type=click.IntRange(1, 65535), help="SSL port (default: free).")
def start(
    name: str,
    port: int | None,
    controller_port: int | None,
    kafka_version: str,
    settings: tuple[str, ...],
    timeout: float,
    scram_users: tuple[str, ...],
    scram_password_file: Path | None,
    sasl_port: int | None,
    ssl_certificate: Path | None,
    ssl_key: Path | None,
    ssl_port: int | None,
) -> None:
    """Start a broker and print its bootstrap address (on stdout, alone).

    The SASL_PLAINTEXT and SSL listeners' addresses are printed on stderr and by ``status``.
    """
    local = LocalBroker(name)
    overrides = _parse_overrides(settings)
    try:
        check_kafka_version(kafka_version)
        users = _scram_users(scram_users, scram_password_file, os.environ)
        ssl = _ssl_certificate(ssl_certificate, ssl_key)
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"starting Kafka {kafka_version} broker {name!r} ...", err=True)
    try:
        info = local.start(
            kafka_version=kafka_version,
            port=port,
            controller_port=controller_port,
            overrides=overrides,
            timeout=timeout,
            scram_users=users,
            sasl_port=sasl_port,
            ssl=ssl,
            ssl_port=ssl_port,
        )
    except BrokerAlreadyRunning as exc:
        click.echo(f"{exc}; stop it first or start another with --name", err=True)
        click.echo(exc.bootstrap)
        return
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(_describe(info), err=True)
    click.echo(info.bootstrap)


@broker.command()
@_NAME
@click.option("--all", "stop_all", is_flag=True, help="Stop every local broker.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds before SIGKILL.")
def stop(name: str, stop_all: bool, timeout: float) -> None:
    """Stop a broker (SIGTERM, then SIGKILL after the timeout)."""
    names = [info.name for info in LocalBroker.all()] if stop_all else [name]
    try:
        for each in names:
            info = LocalBroker(each).stop(timeout=timeout)
            if info is None:
                click.echo(f"broker {each!r} is not running", err=True)
            else:
                click.echo(
                    f"stopped broker {each!r} (was {info.bootstrap}, pid {info.pid})", err=True
                )
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@broker.command()
@click.option("--name", default=None, help="One broker (default: list every running one).")
def status(name: str | None) -> None:
    """Say whether a broker runs; exit status 0 if it does, 3 if not."""
    infos = LocalBroker.all() if name is None else [i for i in [LocalBroker(name).status()] if i]
    if not infos:
        click.echo(f"broker {name!r} is not running" if name else "no local broker is running")
        sys.exit(3)
    for info in infos:
        click.echo(f"running: {_describe(info)}")


@broker.command()
@_NAME
@click.option("--lines", default=40, show_default=True)
def logs(name: str, lines: int) -> None:
    """Print the tail of a broker's logs."""
    click.echo(LocalBroker(name).log_tail(lines))
