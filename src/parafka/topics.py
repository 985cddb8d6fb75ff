"""Declarative topics: ``app.topic(..., config=TopicConfig(...))`` and ``parafka topics``.

``plan`` compares the declared topics with the cluster and lists the changes; ``migrate`` applies
them (create missing topics, grow partitions, set declared settings). Partitions are never
reduced (Kafka cannot) and nothing is deleted unless ``delete`` is called explicitly.
Runs on the caller's thread with an ``AdminClient``; no processing is involved.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in the stubs
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from parafka.errors import ConfigurationError

if TYPE_CHECKING:
    from parafka.app import App

__all__ = ["Change", "TopicConfig", "apply", "delete", "listing", "plan"]

_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class TopicConfig:
    """How a routed topic should exist on the cluster."""

    partitions: int = 1
    replication_factor: int = 1
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("partitions", "replication_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"TopicConfig({name}=...) must be >= 1, got {value!r}")
        if not all(isinstance(k, str) for k in self.settings):
            raise ConfigurationError("TopicConfig(settings=...) keys must be strings")


@dataclass(frozen=True)
class Change:
    """One difference between a declared topic and the cluster."""

    topic: str
    action: str  # "create", "grow", "configure", "cannot-shrink"
    detail: str

    def __str__(self) -> str:
        return f"{self.action:<13} {self.topic}: {self.detail}"


def declared(app: App) -> dict[str, TopicConfig]:
    """Topics with a ``config=`` on any route of the app."""
    result: dict[str, TopicConfig] = {}
    for route in app.routes:
        if route.topic_config is not None:
            result[route.topic] = route.topic_config
    return result


def _admin(app: App) -> AdminClient:
    config: dict[str, Any] = {k: v for k, v in app.kafka.items() if k != "logger"}
    return AdminClient({"bootstrap.servers": config["bootstrap.servers"], **config})


def _current_settings(admin: AdminClient, topic: str, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(_TIMEOUT)
    return {key: str(entries[key].value) for key in keys if key in entries}


def plan(app: App) -> list[Change]:
    """What ``migrate`` would do, without doing it."""
    admin = _admin(app)
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    changes = []
    for topic, config in declared(app).items():
        if topic not in existing:
            settings = f", settings {dict(config.settings)}" if config.settings else ""
            changes.append(
                Change(
                    topic,
                    "create",
                    f"{config.partitions} partitions, replication {config.replication_factor}"
                    f"{settings}",
                )
            )
            continue
        count = len(existing[topic].partitions)
        if config.partitions > count:
            changes.append(Change(topic, "grow", f"partitions {count} -> {config.partitions}"))
        elif config.partitions < count:
            changes.append(
                Change(
                    topic,
                    "cannot-shrink",
                    f"has {count} partitions, declared {config.partitions} (left as it is)",
                )
            )
        current = _current_settings(admin, topic, list(config.settings))
        for key, value in config.settings.items():
            if current.get(key) != str(value):
                changes.append(Change(topic, "configure", f"{key}: {current.get(key)} -> {value}"))
    return changes


def apply(app: App) -> list[Change]:
    """Create missing topics, grow partitions, set declared settings; return what was done."""
    admin = _admin(app)
    changes = plan(app)
    configs = declared(app)
    done = []
    for change in changes:
        config = configs[change.topic]
        if change.action == "create":
            topic = NewTopic(
                change.topic,
                num_partitions=config.partitions,
                replication_factor=config.replication_factor,
                config={k: str(v) for k, v in config.settings.items()},
            )
            admin.create_topics([topic])[change.topic].result(_TIMEOUT)
            _wait_for_partitions(admin, change.topic, config.partitions)
        elif change.action == "grow":
            grown = NewPartitions(change.topic, config.partitions)
            admin.create_partitions([grown])[change.topic].result(_TIMEOUT)
            _wait_for_partitions(admin, change.topic, config.partitions)
        elif change.action == "configure":
            key = change.detail.split(":", 1)[0]
            entry = ConfigEntry(
                key, str(config.settings[key]), incremental_operation=AlterConfigOpType.SET
            )
            resource = ConfigResource(ResourceType.TOPIC, change.topic, incremental_configs=[entry])
            admin.incremental_alter_configs([resource])[resource].result(_TIMEOUT)
        else:
            continue
        done.append(change)
    return done


def _wait_for_partitions(admin: AdminClient, topic: str, partitions: int) -> None:
    """The controller accepted the change; wait until the broker's metadata shows it, so the
    next command (or consumer) does not act on the old partition count."""
    deadline = time.monotonic() + _TIMEOUT
    while True:
        metadata = admin.list_topics(topic, timeout=_TIMEOUT).topics.get(topic)
        if (
            metadata is not None
            and metadata.error is None
            and len(metadata.partitions) >= partitions
        ):
            return
        if time.monotonic() > deadline:
            raise ConfigurationError(f"{topic} did not show {partitions} partitions in time")
        time.sleep(0.05)


def delete(app: App) -> list[str]:
    """Delete every declared topic that exists (the caller confirmed with ``--delete``)."""
    admin = _admin(app)
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    names = [topic for topic in declared(app) if topic in existing]
    if names:
        for name, future in admin.delete_topics(names, operation_timeout=_TIMEOUT).items():
            try:
                future.result(_TIMEOUT)
            except KafkaException as exc:
                raise ConfigurationError(f"could not delete {name}: {exc}") from exc
    return names


def listing(app: App) -> list[tuple[str, int, bool]]:
    """Every topic on the cluster (internal ones left out): name, partitions, declared."""
    admin = _admin(app)
    wanted = declared(app)
    topics = admin.list_topics(timeout=_TIMEOUT).topics
    return sorted(
        (name, len(meta.partitions), name in wanted)
        for name, meta in topics.items()
        if not name.startswith("__")
    )
