"""``parafka topics plan|migrate|list|delete MODULE:APP``: the app's declared topics."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from confluent_kafka import KafkaException

from parafka import topics as declarative
from parafka.cli.loading import debug_option, load_app
from parafka.errors import ParafkaError


@click.group()
def topics() -> None:
    """Declared topics (app.topic(..., config=parafka.TopicConfig(...))) against the cluster."""


@topics.command()
@click.argument("target", metavar="MODULE:APP")
@debug_option
def plan(target: str, debug: bool) -> None:
    """Show what `migrate` would change (nothing is changed)."""
    changes = _run(lambda: declarative.plan(load_app(target, debug=debug)))
    for change in changes:
        click.echo(str(change))
    if not changes:
        click.echo("nothing to change")


@topics.command()
@click.argument("target", metavar="MODULE:APP")
@debug_option
def migrate(target: str, debug: bool) -> None:
    """Create missing topics, grow partitions, set declared settings (never deletes)."""
    done = _run(lambda: declarative.apply(load_app(target, debug=debug)))
    for change in done:
        click.echo(f"done: {change}")
    if not done:
        click.echo("nothing to change")


@topics.command(name="list")
@click.argument("target", metavar="MODULE:APP")
@debug_option
def list_(target: str, debug: bool) -> None:
    """List the cluster's topics with partition counts; * marks declared ones."""
    for name, partitions, is_declared in _run(
        lambda: declarative.listing(load_app(target, debug=debug))
    ):
        click.echo(f"{'*' if is_declared else ' '} {name} ({partitions} partitions)")


@topics.command()
@click.argument("target", metavar="MODULE:APP")
@click.option("--delete", "confirmed", is_flag=True, help="Confirm: really delete them.")
@debug_option
def delete(target: str, confirmed: bool, debug: bool) -> None:
    """Delete the app's declared topics (only with --delete)."""
    if not confirmed:
        click.echo("refusing to delete anything without --delete", err=True)
        sys.exit(2)
    for name in _run(lambda: declarative.delete(load_app(target, debug=debug))):
        click.echo(f"deleted {name}")


T = TypeVar("T")


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except (ParafkaError, KafkaException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
