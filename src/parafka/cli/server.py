"""``parafka server module:app``: run an app until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from parafka.cli.loading import debug_option, load_app
from parafka.cli.selection import apply_selection, selection_of, selection_options
from parafka.errors import ParafkaError

__all__ = ["LOG_LEVELS", "server"]

LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.option("--log-level", default="INFO", show_default=True, type=LOG_LEVELS)
@selection_options
@debug_option
def server(target: str, log_level: str, debug: bool, **selection: Any) -> None:
    """Run an app until SIGINT/SIGTERM.

    Exit status: 0 after a clean stop; 1 after a critical error; 2 if the app cannot be loaded
    or configured, or if jobs or a listener hung past shutdown_timeout.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(threadName)s %(message)s"
    )
    app = load_app(target, debug=debug)
    apply_selection(app, selection_of(selection))
    try:
        app.run()
    except ParafkaError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
