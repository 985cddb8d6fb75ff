"""``parafka server module:app`` and ``parafka info module:app``."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from parafka.app import App
from parafka.config import mask_secrets
from parafka.connection.client import client_config
from parafka.errors import ParafkaError


def load_app(target: str) -> App:
    """Import ``module:attribute`` (the current directory is importable) and return the App."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise click.BadParameter(f"{target!r} is not MODULE:ATTRIBUTE, e.g. shop.consumers:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise click.BadParameter(f"{target} is {type(app).__name__}, not a parafka.App")
    return app


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def server(target: str, log_level: str) -> None:
    """Run an app until SIGINT/SIGTERM (exit status 2 if jobs or a listener hung past
    shutdown_timeout)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(threadName)s %(message)s"
    )
    app = load_app(target)
    try:
        app.run()
    except ParafkaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.command()
@click.argument("target", metavar="MODULE:APP")
def info(target: str) -> None:
    """Print an app's routing: groups, connections, topics, consumers, settings (masked)."""
    app = load_app(target)
    click.echo(f"settings: {app.settings}")
    for group in app.subscription_groups():
        config = mask_secrets(client_config({**app.kafka, **group.kafka}, group.group_id))
        config.pop("logger", None)
        click.echo(f"consumer group {group.group_id!r}, subscription group {group.name!r}:")
        click.echo(f"  kafka: {config}")
        for route in group.routes:
            consumer = f"{route.consumer.__module__}.{route.consumer.__qualname__}"
            options = "manual offsets" if route.manual_offset_management else "automatic offsets"
            click.echo(f"  topic {route.topic!r} -> {consumer} ({options})")
