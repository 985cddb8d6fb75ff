"""``parafka swarm module:app --nodes N``: the app as N supervised processes."""

from __future__ import annotations

import logging
import multiprocessing
import sys
from typing import Any

import click

from parafka.cli.loading import AppLoadError, debug_option, load_app
from parafka.cli.selection import apply_selection, selection_of, selection_options
from parafka.cli.server import LOG_LEVELS
from parafka.errors import ConfigurationError

__all__ = ["swarm"]


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.option(
    "--nodes",
    type=click.IntRange(min=1),
    default=None,
    help="Processes to fork (default: the CPUs this process may use).",
)
@click.option(
    "--node-report-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds between a node's liveness reports.",
)
@click.option(
    "--node-report-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="A node without a healthy report for this long is hung: SIGTERM, SIGKILL, replaced.",
)
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Restarts of one node in a row, each soon after its start, before the swarm stops.",
)
@click.option("--log-level", default="INFO", show_default=True, type=LOG_LEVELS)
@selection_options
@debug_option
def swarm(
    target: str,
    nodes: int | None,
    node_report_interval: float,
    node_report_timeout: float,
    max_restarts: int,
    log_level: str,
    debug: bool,
    **selection: Any,
) -> None:
    """Run an app as N processes (nodes) forked by a supervisor, in the same consumer groups.

    For CPU-bound consumers: threads share one GIL, nodes do not. A node that exits is
    restarted with back-off; one that stops reporting (hung) is killed and replaced. SIGINT or
    SIGTERM stops every node gracefully; SIGTSTP quiets them; SIGTTIN makes each print its
    diagnostics.

    Exit status: 0 after a clean stop; 1 if a node kept failing (crash loop); 2 if the app
    cannot be loaded or configured, or a node did not stop cleanly.
    """
    multiprocessing.current_process().name = "supervisor"
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(threadName)s %(message)s",
    )
    from parafka.swarm import Swarm  # after logging is set up

    app = load_app(target, debug=debug)
    apply_selection(app, selection_of(selection))
    try:
        runner = Swarm(
            app,
            nodes=nodes,
            node_report_interval=node_report_interval,
            node_report_timeout=node_report_timeout,
            max_restarts=max_restarts,
        )
    except ConfigurationError as exc:
        raise AppLoadError(str(exc)) from exc
    status = runner.run()
    if runner.error:
        click.echo(f"error: {runner.error}", err=True)
    sys.exit(status)
