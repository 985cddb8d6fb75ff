"""``parafka broker start|stop|status``: real brokers started and stopped through the CLI."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from confluent_kafka.admin import AdminClient

from parafka.broker import LocalBroker
from parafka.cli import main

pytestmark = pytest.mark.integration


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["broker", *args], env=env, catch_exceptions=False)


def java_processes_in(directory: str) -> list[int]:
    """Pids of live processes whose command line mentions ``directory``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if directory.encode() in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def broker_name(unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("cli")[:80]
    yield name
    LocalBroker(name).remove()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_start_twice_says_it_already_runs_and_stop_leaves_no_java(broker_name: str) -> None:
    first = run("start", "--name", broker_name)
    assert first.exit_code == 0, first.output
    bootstrap = first.stdout.strip()
    assert bootstrap.startswith("127.0.0.1:")
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert len(metadata.brokers) == 1

    again = run("start", "--name", broker_name)
    assert again.exit_code == 0
    assert "already runs at " + bootstrap in again.stderr
    assert again.stdout.strip() == bootstrap
    assert run("status", "--name", broker_name).exit_code == 0

    directory = str(LocalBroker(broker_name).directory)
    assert java_processes_in(directory), "the broker's java process should be running"
    stopped = run("stop", "--name", broker_name)
    assert stopped.exit_code == 0
    assert "stopped broker" in stopped.stderr
    assert java_processes_in(directory) == []
    status = run("status", "--name", broker_name)
    assert status.exit_code == 3
    assert "not running" in status.stdout


def test_a_second_name_runs_beside_the_first_on_other_ports(
    broker_name: str, unique_name: Callable[[str], str]
) -> None:
    other = unique_name("cli-other")[:80]
    try:
        first = run("start", "--name", broker_name)
        second = run("start", "--name", other)
        assert first.exit_code == 0, first.output
        assert second.exit_code == 0, second.output
        assert first.stdout.strip() != second.stdout.strip()
        for bootstrap in (first.stdout.strip(), second.stdout.strip()):
            metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
            assert len(metadata.brokers) == 1
    finally:
        LocalBroker(other).remove()


def test_a_port_in_use_is_named(broker_name: str, busy_port: int) -> None:
    result = run("start", "--name", broker_name, "--port", str(busy_port))
    assert result.exit_code == 1
    assert f"port {busy_port} (broker) on 127.0.0.1 is already in use" in result.stderr
    assert LocalBroker(broker_name).status() is None


def test_a_broker_that_exits_while_starting_shows_why(broker_name: str, busy_port: int) -> None:
    # The listener override points the broker at a port that is already bound: the JVM starts,
    # fails to bind and exits, which the start command must report with the broker's own words.
    controller = socket.socket()
    controller.bind(("127.0.0.1", 0))
    controller_port = controller.getsockname()[1]
    controller.close()
    listeners = f"PLAINTEXT://127.0.0.1:{busy_port},CONTROLLER://127.0.0.1:{controller_port}"
    result = run(
        "start",
        "--name",
        broker_name,
        "--controller-port",
        str(controller_port),
        "--set",
        f"listeners={listeners}",
    )
    assert result.exit_code == 1
    assert "exited while starting" in result.stderr
    assert f"failed to bind to 127.0.0.1:{busy_port}" in result.stderr
    assert java_processes_in(str(LocalBroker(broker_name).directory)) == []
    assert LocalBroker(broker_name).status() is None


def test_maven_that_cannot_resolve_names_the_version(tmp_path: Path, broker_name: str) -> None:
    result = run(
        "start",
        "--name",
        broker_name,
        "--kafka-version",
        "4.99.99",
        env={"PARAFKA_HOME": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "Maven could not resolve org.apache.kafka:kafka_2.13:4.99.99" in result.stderr
    assert not (tmp_path / "kafka-4.99.99" / ".complete").exists()
