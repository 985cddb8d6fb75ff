"""``parafka``: the entry point and its command groups."""

from __future__ import annotations

import click

from parafka import __version__
from parafka.cli.broker import broker
from parafka.cli.demo import demo
from parafka.cli.info import info
from parafka.cli.server import server
from parafka.cli.swarm import swarm
from parafka.cli.topics import topics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parafka")
def main() -> None:
    """parafka: Kafka consumers with a pool of worker threads, ordering and offsets kept."""


main.add_command(broker)
main.add_command(demo)
main.add_command(server)
main.add_command(swarm)
main.add_command(info)
main.add_command(topics)
