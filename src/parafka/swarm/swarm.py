"""``parafka.swarm.Swarm``: one app run as N supervised processes (``parafka swarm``).

Threads share one GIL; a swarm's nodes do not. The supervisor (the process calling
:meth:`Swarm.run`, on its main thread) holds the imported app, never creates a Kafka client,
and forks the nodes, each a full app in the same consumer groups. See
:mod:`parafka.swarm.supervisor` for supervision and :mod:`parafka.swarm.node` for a node.
"""

from __future__ import annotations

import logging
import os
import threading

from parafka.app import App
from parafka.errors import ConfigurationError
from parafka.swarm.node import run_node
from parafka.swarm.policy import RestartPolicy
from parafka.swarm.supervisor import NodeContext, Supervisor

__all__ = ["Swarm", "default_nodes"]

_log = logging.getLogger("parafka")


def default_nodes() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _warn_about_threads() -> None:
    """A fork copies only the forking thread: say so when the supervisor has others (a module
    that starts threads, or a Kafka client, at import)."""
    try:
        count = len(os.listdir("/proc/self/task"))
    except OSError:
        count = threading.active_count()
    if count > 1:
        names = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        _log.warning(
            "the swarm's supervisor runs %d threads before forking its nodes (Python threads: "
            "%s); the nodes get none of them, and a Kafka client made before the fork does not "
            "work in the nodes: create clients in the app's hooks, not at import",
            count,
            ", ".join(names) or "none: native threads",
        )


class Swarm:
    """Supervised processes running ``app``.

    - ``nodes``: how many (default: the CPUs this process may use).
    - ``node_report_interval``: seconds between a node's liveness reports.
    - ``node_report_timeout``: a node without a healthy report for this long is hung (it is
      not running, or a listener has not polled for this long): it gets SIGTERM, SIGKILL
      after the app's ``shutdown_timeout`` + ``close_timeout``, and is replaced.
    - ``restart_backoff`` .. ``restart_max_backoff``: the wait before restarting a node that
      exited, doubling with each failure in a row; ``max_restarts`` failures in a row, each
      within ``stable_after`` seconds of the node's start, stop the swarm (exit status 1).
    """

    def __init__(
        self,
        app: App,
        *,
        nodes: int | None = None,
        node_report_interval: float = 5.0,
        node_report_timeout: float = 60.0,
        restart_backoff: float = 1.0,
        restart_max_backoff: float = 30.0,
        max_restarts: int = 5,
        stable_after: float = 60.0,
    ) -> None:
        if not isinstance(app, App):
            raise ConfigurationError(f"Swarm needs a parafka.App, got {type(app).__name__}")
        if app.running or app._state != "new":
            raise ConfigurationError(
                "the swarm's app must not be started: the supervisor forks the nodes, and each "
                "starts it (a Kafka client does not survive fork)"
            )
        if not app.routes:
            raise ConfigurationError("no topics are routed: call app.topic(...) first")
        nodes = default_nodes() if nodes is None else nodes
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise ConfigurationError(f"nodes must be an integer >= 1, got {nodes!r}")
        interval = _positive("node_report_interval", node_report_interval)
        timeout = _positive("node_report_timeout", node_report_timeout)
        if timeout <= interval:
            raise ConfigurationError(
                f"node_report_timeout ({timeout:g} s) must be longer than "
                f"node_report_interval ({interval:g} s), or every node would look hung"
            )
        self.app = app
        self.nodes = nodes
        self.node_report_interval = interval
        self.node_report_timeout = timeout
        self.policy = RestartPolicy(
            backoff=restart_backoff,
            max_backoff=restart_max_backoff,
            max_restarts=max_restarts,
            stable_after=stable_after,
        )
        settings = app.settings
        listeners = max(1, len(app.subscription_groups()))
        #: How long a stopping node may take: the app's own bounds, and a margin.
        self.stop_timeout = settings.shutdown_timeout + settings.close_timeout * listeners + 5.0
        self._supervisor = Supervisor(
            self._run_node,
            nodes=nodes,
            monitor=app.monitor,
            policy=self.policy,
            report_interval=interval,
            report_timeout=timeout,
            stop_timeout=self.stop_timeout,
            kill_timeout=self.stop_timeout,
            node_info=self._node_info,
        )

    @property
    def error(self) -> str | None:
        """Why the swarm stopped on its own or not cleanly (after :meth:`run`)."""
        return self._supervisor.error

    def _run_node(self, context: NodeContext) -> int:
        return run_node(self.app, context, stall_after=self.node_report_timeout)

    def _node_info(self, index: int) -> dict[str, object]:
        ids = [i for _group, _suffix, i in self.app._connections(f"-{index}") if i is not None]
        return {"instance_ids": ids} if ids else {}

    def run(self) -> int:
        """Fork the nodes and supervise them until SIGINT/SIGTERM or :meth:`request_stop`;
        return the exit status (see :class:`~parafka.swarm.supervisor.Supervisor`). Main
        thread only. SIGTSTP quiets every node, SIGTTIN makes each print its diagnostics."""
        self.app._refuse_while_imported()
        _warn_about_threads()
        self.app.monitor.publish("swarm.starting", nodes=self.nodes)
        status = self._supervisor.run()
        self.app.monitor.publish("swarm.stopped", status=status, error=self.error)
        return status

    def request_stop(self) -> None:
        """Stop every node gracefully (thread-safe and signal-safe)."""
        self._supervisor.request_stop()
