"""``--include-consumer-groups`` / ``--exclude-consumer-groups`` / ``--include-topics`` /
``--exclude-topics``: the options ``parafka server`` and ``parafka swarm`` share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from parafka.app import App
from parafka.cli.loading import AppLoadError
from parafka.errors import ConfigurationError
from parafka.selection import split_names

__all__ = ["apply_selection", "selection_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    ("--include-consumer-groups", "include_groups", "Run only these consumer groups."),
    ("--exclude-consumer-groups", "exclude_groups", "Do not run these consumer groups."),
    ("--include-topics", "include_topics", "Run only the routes of these topics."),
    ("--exclude-topics", "exclude_topics", "Do not run the routes of these topics."),
)


def selection_options(command: F) -> F:
    """Add the four options (each repeatable, or comma-separated: ``--include-topics a,b``)."""
    for flag, name, text in reversed(_OPTIONS):
        option = click.option(
            flag, name, multiple=True, metavar="NAMES", help=f"{text} Comma-separated."
        )
        command = option(command)
    return command


def apply_selection(app: App, selection: dict[str, Sequence[str]]) -> None:
    """Restrict ``app``'s routes; a bad selection is one ``error:`` line (exit status 2)."""
    names = {key: split_names(values) for key, values in selection.items()}
    if not any(names.values()):
        return
    try:
        app.restrict(**names)
    except ConfigurationError as exc:
        raise AppLoadError(str(exc)) from exc


def selection_of(kwargs: dict[str, Any]) -> dict[str, Sequence[str]]:
    """Take the four options' values out of a command's keyword arguments."""
    return {name: kwargs.pop(name) for _flag, name, _text in _OPTIONS}
