"""``parafka broker start --scram-user NAME`` seeds the user with a password taken from the
environment, and no process that parafka spawns carries it on its command line."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from parafka.broker import LocalBroker
from parafka.broker import local as local_module
from parafka.cli import main

pytestmark = pytest.mark.integration

PASSWORD = "argv-canary-Pw:7=q"


def command_lines_containing(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append((int(proc.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    local = LocalBroker(f"pytest-{os.getpid()}-scram-argv")
    yield local
    local.remove()


def test_the_scram_password_is_on_no_command_line(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(command: list[str], **kwargs: Any) -> Any:
        spawned.append(list(command))
        return real_run(command, **kwargs)

    monkeypatch.setattr(local_module.subprocess, "run", recording_run)
    result = CliRunner().invoke(
        main,
        ["broker", "start", "--name", broker.name, "--scram-user", "alice"],
        env={"PARAFKA_SCRAM_PASSWORD": PASSWORD},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    info = broker.status()
    assert info is not None
    assert info.scram_users == ("alice",)
    assert info.sasl_bootstrap is not None

    # What parafka ran (java -version, random-uuid, the format through an argument file, the
    # launcher): the password is in none of those command lines.
    assert not [command for command in spawned if any(PASSWORD in arg for arg in command)]
    formats = [command for command in spawned if command[-1].startswith("@")]
    assert [command[-1] for command in formats] == [f"@{broker.directory / 'format.args'}"]
    assert any("kafka.Kafka" in command for command in spawned)
    assert not (broker.directory / "format.args").exists()
    # What runs now: the broker's JVM, and nothing else, with the password nowhere.
    broker_cmdline = (Path(f"/proc/{info.pid}/cmdline")).read_bytes()
    assert b"kafka.Kafka" in broker_cmdline
    assert PASSWORD.encode() not in broker_cmdline
    assert command_lines_containing(PASSWORD) == []
    for directory in (broker.directory, broker.directory / "data", broker.directory / "logs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700

    # The password did reach the broker: it logs alice in, and refuses another password.
    def admin(password: str) -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": info.sasl_bootstrap,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "alice",
                "sasl.password": password,
            }
        )

    assert len(admin(PASSWORD).list_topics(timeout=20).brokers) == 1
    with pytest.raises(KafkaException):
        admin("not-" + PASSWORD).list_topics(timeout=20)
