"""Pure parts of the local broker: version parsing, settings, ports, names, homes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from parafka.broker.java import parse_java_major
from parafka.broker.local import LocalBroker, parafka_home, server_properties
from parafka.broker.ports import free_ports, port_is_free, require_free
from parafka.errors import BrokerError, PortInUse


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25-ea" 2025-09-16', 25),
    ],
)
def test_java_major_is_parsed(output: str, major: int) -> None:
    assert parse_java_major(output) == major


def test_java_output_without_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="no version"):
        parse_java_major("command not found")


def test_server_properties_are_loopback_and_take_overrides(tmp_path: Path) -> None:
    properties = server_properties(
        port=1234, controller_port=1235, data_dir=tmp_path, overrides={"num.partitions": "3"}
    )
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert properties["controller.quorum.voters"] == "1@127.0.0.1:1235"
    assert properties["log.dirs"] == str(tmp_path)
    assert properties["num.partitions"] == "3"


def test_home_prefers_parafka_home_then_xdg() -> None:
    assert parafka_home({"PARAFKA_HOME": "/a", "XDG_CACHE_HOME": "/b"}) == Path("/a")
    assert parafka_home({"XDG_CACHE_HOME": "/b"}) == Path("/b/parafka")
    assert parafka_home({}) == Path.home() / ".cache" / "parafka"


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert all(port_is_free(port) for port in ports)


def test_a_bound_port_is_reported_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(PortInUse, match=f"port {port} \\(broker\\)"):
            require_free(port, "broker")


@pytest.mark.parametrize("name", ["", "../x", "a b", ".hidden"])
def test_unsafe_broker_names_are_refused(name: str) -> None:
    with pytest.raises(BrokerError, match="broker name"):
        LocalBroker(name)
