"""``parafka info module:app``: what an app would run, as plain tables; nothing is started."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from parafka.app import App
from parafka.cli.loading import debug_option, load_app
from parafka.config import mask_secrets
from parafka.connection.client import client_config
from parafka.deserializers import (
    headers_dict_deserializer,
    headers_raw_deserializer,
    json_deserializer,
    key_json_deserializer,
    key_raw_deserializer,
    key_string_deserializer,
    raw_deserializer,
    string_deserializer,
)
from parafka.routing import Route

__all__ = ["describe", "info"]

_ROUTE_COLUMNS = (
    "GROUP",
    "SUBSCRIPTION GROUP",
    "TOPIC",
    "CONSUMER",
    "OFFSETS",
    "VIRTUAL PARTITIONS",
    "DEAD LETTER QUEUE",
    "DESERIALIZERS",
)

#: parafka's own deserializers, by their short names (``json``, ``key: string``...).
_SHORT_NAMES = (
    (json_deserializer, "json"),
    (raw_deserializer, "raw"),
    (string_deserializer, "string"),
    (key_raw_deserializer, "raw"),
    (key_string_deserializer, "string"),
    (key_json_deserializer, "json"),
    (headers_raw_deserializer, "raw"),
    (headers_dict_deserializer, "dict"),
)


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (``headers`` None: no header line)."""
    lines = [list(headers)] if headers else []
    lines += [list(row) for row in rows]
    if not lines:
        return []
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


def _name(thing: Any) -> str:
    for known, short in _SHORT_NAMES:
        if thing is known:
            return short
    module = getattr(thing, "__module__", None)
    name = getattr(thing, "__qualname__", None) or type(thing).__qualname__
    return f"{module}.{name}" if module else name


def _route_row(route: Route, concurrency: int) -> list[str]:
    lanes = "-"
    if route.virtual_partitions is not None:
        vp = route.virtual_partitions
        count = vp.max_partitions or concurrency
        lanes = f"{count} lanes, {vp.distribution}, by {_name(vp.partitioner)}"
    dlq = "- (retried forever)"
    if route.dead_letter_queue is not None:
        queue = route.dead_letter_queue
        target = queue.topic if queue.topic is not None else "none (skipped)"
        dlq = f"{target} after {queue.max_retries} retries"
    return [
        route.group_id,
        route.subscription_group,
        route.topic,
        _name(route.consumer),
        "manual" if route.manual_offset_management else "automatic",
        lanes,
        dlq,
        _deserializers(route),
    ]


def _deserializers(route: Route) -> str:
    """The value's deserializer, then the key's and the headers' where they are not the
    defaults (the raw key and headers): ``json, key: string, headers: dict``."""
    names = [_name(route.deserializer)]
    if route.key_deserializer is not key_raw_deserializer:
        names.append(f"key: {_name(route.key_deserializer)}")
    if route.headers_deserializer is not headers_raw_deserializer:
        names.append(f"headers: {_name(route.headers_deserializer)}")
    return ", ".join(names)


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(_name(item) for item in value) or "-"
    return "-" if value is None else str(value)


def _settings(config: Mapping[str, Any]) -> list[list[str]]:
    return [[key, _value(value)] for key, value in sorted(mask_secrets(config).items())]


def describe(app: App) -> list[str]:
    """The lines ``parafka info`` prints: settings, routes, connections; secrets masked."""
    lines = [f"app: default consumer group {app.group_id!r}; settings:"]
    settings = [
        [f.name, _value(getattr(app.settings, f.name))] for f in dataclasses.fields(app.settings)
    ]
    lines += ["  " + line for line in table(None, settings)]
    groups = app.subscription_groups()
    lines += ["", "routes:"]
    concurrency = app.settings.concurrency
    rows = [_route_row(route, concurrency) for group in groups for route in group.routes]
    lines += ["  " + line for line in table(_ROUTE_COLUMNS, rows)] if rows else ["  (none)"]
    for group in groups:
        config = client_config({**app.kafka, **group.kafka}, group.group_id)
        config.pop("logger", None)
        lines += [
            "",
            f"connection: consumer group {group.group_id!r}, subscription group "
            f"{group.name!r}, topics {', '.join(group.topics)}; librdkafka settings:",
        ]
        lines += ["  " + line for line in table(None, _settings(config))]
    return lines


@click.command()
@click.argument("target", metavar="MODULE:APP")
@debug_option
def info(target: str, debug: bool) -> None:
    """Describe an app without starting it: settings, routes (consumer, virtual partitions,
    dead letter queue, deserializers) and each connection's librdkafka settings (secrets masked).
    """
    for line in describe(load_app(target, debug=debug)):
        click.echo(line)
