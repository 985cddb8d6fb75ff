"""A swarm node: the app, run in a process forked by the supervisor, reporting its liveness.

Thread ownership: :func:`run_node` runs on the node's main thread (the app's signal handlers
are installed there: SIGINT/SIGTERM stop, SIGTSTP quiets, SIGTTIN prints diagnostics). The
``parafka-swarm-reporter`` thread writes a report to the supervisor's pipe every
``report_interval``; it asks the app to stop when the supervisor is gone (its pipe is closed,
or the node was re-parented), so a node never runs on unsupervised.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading

from parafka.app import App
from parafka.errors import ParafkaError
from parafka.swarm.reports import EXIT_CONFIG, encode
from parafka.swarm.supervisor import NodeContext

__all__ = ["Reporter", "run_node"]

_log = logging.getLogger("parafka")


class Reporter(threading.Thread):
    """Writes ``report`` lines (healthy, or why not) to the supervisor (its own thread)."""

    def __init__(self, app: App, context: NodeContext, stall_after: float) -> None:
        super().__init__(name="parafka-swarm-reporter", daemon=True)
        self._app = app
        self._context = context
        self._stall_after = stall_after
        self._finished = threading.Event()

    def run(self) -> None:
        context = self._context
        while True:
            if os.getppid() != context.supervisor_pid:
                _log.error("node %d: the swarm's supervisor is gone; stopping", context.index)
                self._app.request_stop()
                return
            # A stopping app is bounded by its own shutdown_timeout and close_timeout: its
            # listeners end on the way, which must not make the supervisor kill it as hung.
            reason = None if self._app.stopping else self._app.health(self._stall_after)
            try:
                os.write(context.report_fd, encode("report", ok=reason is None, reason=reason))
            except OSError as exc:
                _log.error("node %d: cannot report to the supervisor (%s); stopping",
                           context.index, exc)  # fmt: skip
                self._app.request_stop()
                return
            if self._finished.wait(context.report_interval):
                return

    def finish(self) -> None:
        self._finished.set()


def run_node(app: App, context: NodeContext, stall_after: float) -> int:
    """Run ``app`` in this (forked) node until it is stopped; return the exit status.

    A configured ``group.instance.id`` gets ``-<index>`` appended, so a node restarted at the
    same index rejoins as the same static member. An app that cannot start reports why and
    exits with :data:`EXIT_CONFIG`: the supervisor then stops the swarm rather than restart.
    """
    multiprocessing.current_process().name = f"node-{context.index}"
    app._instance_suffix = f"-{context.index}"
    try:
        app._install_signals()
        app.start()
    except ParafkaError as exc:
        _log.error("node %d cannot start: %s", context.index, exc)
        os.write(context.report_fd, encode("error", message=str(exc)))
        return EXIT_CONFIG
    if context.quiet:
        app.quiet()
    reporter = Reporter(app, context, stall_after)
    reporter.start()
    try:
        return app._serve()
    finally:
        reporter.finish()
