"""``parafka demo``: start a local broker and run the demo against it."""

from __future__ import annotations

import sys

import click

from parafka.errors import BrokerError


@click.command()
@click.option("--messages", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--partitions", default=4, show_default=True, type=click.IntRange(1))
def demo(messages: int, partitions: int) -> None:
    """Start a local broker, produce messages and consume them back, printing what happened."""
    from parafka.demo import run_demo

    try:
        run_demo(messages=messages, partitions=partitions, echo=click.echo)
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
