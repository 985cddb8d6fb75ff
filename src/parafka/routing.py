"""Routing: which topics a consumer group reads and which ``Consumer`` class processes them.

Built on the thread that configures the app, before ``start()``; read-only afterwards.
Topics of one consumer group share one Kafka connection (a *subscription group*) unless their
``kafka`` settings differ or a route names its own ``subscription_group``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parafka.config import mask_secrets, validate_kafka
from parafka.consumer import Consumer
from parafka.dead_letters import DeadLetterQueue
from parafka.errors import ConfigurationError
from parafka.messages import Deserializer, json_deserializer
from parafka.processing.virtual import VirtualPartitions
from parafka.topics import TopicConfig

if TYPE_CHECKING:
    from parafka.app import App

__all__ = ["ConsumerGroup", "Route", "SubscriptionGroup"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One topic routed to one consumer class in one consumer group."""

    topic: str
    consumer: type[Consumer]
    group_id: str
    subscription_group: str
    kafka: Mapping[str, Any] = field(default_factory=dict)
    manual_offset_management: bool = False
    deserializer: Deserializer = json_deserializer
    virtual_partitions: VirtualPartitions | None = None
    dead_letter_queue: DeadLetterQueue | None = None
    pause_timeout: float | None = None  # None: the app's setting
    pause_max_timeout: float | None = None
    topic_config: TopicConfig | None = None
    #: ``consume`` is ``async def``: it runs on the app's event loop thread.
    asynchronous: bool = False

    def __repr__(self) -> str:
        return (
            f"Route(topic={self.topic!r}, consumer={self.consumer.__name__}, "
            f"group_id={self.group_id!r}, subscription_group={self.subscription_group!r}, "
            f"kafka={mask_secrets(self.kafka)!r}, "
            f"manual_offset_management={self.manual_offset_management}, "
            f"virtual_partitions={self.virtual_partitions!r}, "
            f"dead_letter_queue={self.dead_letter_queue!r})"
        )


@dataclass(frozen=True)
class SubscriptionGroup:
    """Routes that share one Kafka connection and one listener thread."""

    group_id: str
    name: str
    kafka: Mapping[str, Any]
    routes: tuple[Route, ...]

    @property
    def topics(self) -> list[str]:
        return [route.topic for route in self.routes]

    def route(self, topic: str) -> Route:
        for route in self.routes:
            if route.topic == topic:
                return route
        raise KeyError(topic)


class ConsumerGroup:
    """``app.consumer_group(name)``: route topics in a consumer group other than the default."""

    def __init__(self, app: App, group_id: str) -> None:
        if not isinstance(group_id, str) or not group_id.strip():
            raise ConfigurationError(f"consumer group names must be non-empty, got {group_id!r}")
        self._app = app
        self.group_id = group_id

    def __repr__(self) -> str:
        return f"ConsumerGroup({self.group_id!r})"

    def topic(
        self,
        name: str,
        consumer: type[Consumer],
        *,
        manual_offset_management: bool = False,
        deserializer: Deserializer = json_deserializer,
        kafka: Mapping[str, Any] | None = None,
        subscription_group: str | None = None,
        virtual_partitions: VirtualPartitions | None = None,
        dead_letter_queue: DeadLetterQueue | None = None,
        pause_timeout: float | None = None,
        pause_max_timeout: float | None = None,
        config: TopicConfig | None = None,
    ) -> Route:
        """Route ``name`` to ``consumer`` in this group; see :meth:`parafka.App.topic`."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"topic names must be non-empty strings, got {name!r}")
        if not (inspect.isclass(consumer) and issubclass(consumer, Consumer)):
            raise ConfigurationError(
                f"topic {name!r}: consumer must be a subclass of parafka.Consumer, got {consumer!r}"
            )
        if consumer.consume is Consumer.consume:
            raise ConfigurationError(
                f"topic {name!r}: {consumer.__name__} does not implement consume(messages)"
            )
        if not callable(deserializer):
            raise ConfigurationError(f"topic {name!r}: deserializer must be callable")
        if virtual_partitions is not None and not isinstance(virtual_partitions, VirtualPartitions):
            raise ConfigurationError(
                f"topic {name!r}: virtual_partitions must be a parafka.VirtualPartitions"
            )
        if dead_letter_queue is not None:
            if not isinstance(dead_letter_queue, DeadLetterQueue):
                raise ConfigurationError(
                    f"topic {name!r}: dead_letter_queue must be a parafka.DeadLetterQueue"
                )
            if dead_letter_queue.topic == name:
                raise ConfigurationError(
                    f"topic {name!r}: the dead letter queue topic cannot be the topic itself"
                )
        pause = self._app.settings.with_pauses(name, pause_timeout, pause_max_timeout)
        if config is not None and not isinstance(config, TopicConfig):
            raise ConfigurationError(f"topic {name!r}: config must be a parafka.TopicConfig")
        overrides = validate_kafka(kafka or {}, f"topic {name!r} kafka=")
        if subscription_group is None:
            # Routes with equal settings share a connection; the name must not show values
            # (they may be secrets), so it is a digest of them.
            settings = json.dumps(overrides, sort_keys=True, default=str).encode()
            subscription_group = (
                "default" if not overrides else "kafka-" + hashlib.sha256(settings).hexdigest()[:12]
            )
        route = Route(
            topic=name,
            consumer=consumer,
            group_id=self.group_id,
            subscription_group=subscription_group,
            kafka=overrides,
            manual_offset_management=bool(manual_offset_management),
            deserializer=deserializer,
            virtual_partitions=virtual_partitions,
            dead_letter_queue=dead_letter_queue,
            pause_timeout=pause[0],
            pause_max_timeout=pause[1],
            topic_config=config,
            asynchronous=inspect.iscoroutinefunction(consumer.consume),
        )
        self._app._add_route(route)
        return route
