"""``parafka demo``: the same workload with 1 and with N worker threads on a local broker."""

from __future__ import annotations

import sys

import click
from confluent_kafka import KafkaException

from parafka.errors import ParafkaError


@click.command()
@click.option(
    "--messages", default=6_000, show_default=True, type=click.IntRange(1), help="Workload size."
)
@click.option(
    "--partitions",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Partitions of the demo topic.",
)
@click.option(
    "--concurrency",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Worker threads of the second run (the first uses 1).",
)
def demo(messages: int, partitions: int, concurrency: int) -> None:
    """Process a workload with 1, then N worker threads, and compare.

    Starts the local broker 'demo' (or uses it if it runs), produces MESSAGES messages that cost
    ~1 ms of simulated IO each, consumes them twice with parafka.App, prints a comparison and
    checks ordering and exactly-once processing. Exits 1 if a run did not finish.
    """
    try:
        from parafka.demo import run_demo
    except ModuleNotFoundError as exc:  # rich, the ``demo`` extra, is not installed
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        result = run_demo(messages=messages, partitions=partitions, concurrency=concurrency)
    except (ParafkaError, KafkaException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not result.ok:
        sys.exit(1)
