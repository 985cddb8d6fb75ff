"""Free and busy TCP ports on the loopback interface."""

from __future__ import annotations

import socket

from parafka.errors import BrokerError, PortInUse

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def accepts_connections(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_ports(count: int, host: str = HOST) -> list[int]:
    """Return ``count`` distinct ports that the OS reports free right now."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def require_free(port: int, what: str, host: str = HOST) -> None:
    """Raise :class:`PortInUse` naming ``what`` when ``port`` is taken."""
    if not 0 < port < 65536:
        raise BrokerError(f"{what} port {port} is not in 1..65535")
    if not port_is_free(port, host):
        raise PortInUse(port, what)
