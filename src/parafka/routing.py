"""Routing: which topics a consumer group reads and which ``Consumer`` class processes them.

Built on the thread that configures the app, before ``start()``; read-only afterwards (except
the per-topic lookup cache of :class:`SubscriptionGroup`, which only its listener thread uses).
Topics of one consumer group share one Kafka connection (a *subscription group*) unless their
``kafka`` settings differ or a route names its own ``subscription_group``.

A route whose topic starts with ``^`` is a regular expression (librdkafka subscribes to every
topic it matches, and to matching topics created later). Assigned topics are routed to the route
named exactly, else to the first pattern that matches, in declaration order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from parafka.config import Settings, is_secret, mask_secrets, validate_kafka
from parafka.consumer import Consumer
from parafka.dead_letters import DeadLetterQueue
from parafka.deserializers import headers_raw_deserializer, key_raw_deserializer
from parafka.errors import ConfigurationError
from parafka.messages import Deserializer, Deserializers, json_deserializer
from parafka.processing.virtual import VirtualPartitions
from parafka.topics import TopicConfig

__all__ = ["ConsumerGroup", "Route", "RouteRegistry", "SubscriptionGroup", "is_pattern"]


def is_pattern(topic: str) -> bool:
    """True for a route topic that is a regular expression (librdkafka's ``^`` convention)."""
    return topic.startswith("^")


@dataclass(frozen=True, kw_only=True)
class Route:
    """One topic routed to one consumer class in one consumer group."""

    topic: str
    consumer: type[Consumer]
    group_id: str
    subscription_group: str
    kafka: Mapping[str, Any] = field(default_factory=dict)
    manual_offset_management: bool = False
    deserializer: Deserializer[Any] = json_deserializer
    key_deserializer: Deserializer[Any] = key_raw_deserializer
    headers_deserializer: Deserializer[Any] = headers_raw_deserializer
    virtual_partitions: VirtualPartitions | None = None
    dead_letter_queue: DeadLetterQueue | None = None
    pause_timeout: float | None = None  # None: the app's setting
    pause_max_timeout: float | None = None
    topic_config: TopicConfig | None = None
    #: ``consume`` is ``async def``: it runs on the app's event loop thread.
    asynchronous: bool = False
    #: The compiled pattern of a ``^...`` route, else None. A pattern route bound to one
    #: assigned topic (:meth:`bound`) keeps it, with that topic's name as ``topic``.
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    #: The three deserializers as one object, built once here: each message of the route
    #: holds a reference to it.
    deserializers: Deserializers[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bundle = Deserializers(self.deserializer, self.key_deserializer, self.headers_deserializer)
        object.__setattr__(self, "deserializers", bundle)

    def matches(self, topic: str) -> bool:
        """True if this route reads ``topic``: its name, or a match of its pattern (searched
        from the start, as librdkafka does)."""
        if self.pattern is None:
            return topic == self.topic
        return self.pattern.search(topic) is not None

    def bound(self, topic: str) -> Route:
        """This route for one topic it reads: itself, or for a pattern a copy whose ``topic``
        is the concrete name (what coordinators, consumers and events see)."""
        if topic == self.topic:
            return self
        return dataclasses.replace(self, topic=topic)

    def __repr__(self) -> str:
        pattern = f"pattern={self.pattern.pattern!r}, " if self.pattern is not None else ""
        return (
            f"Route(topic={self.topic!r}, {pattern}consumer={self.consumer.__name__}, "
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

    #: Assigned topic -> its bound route (None: no route matches). Listener thread only.
    _cache: dict[str, Route | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def topics(self) -> list[str]:
        """What the connection subscribes to: topic names and patterns (``^...``)."""
        return [route.topic for route in self.routes]

    @property
    def single_topic(self) -> str | None:
        """The one concrete topic of this connection, or None (several, or a pattern)."""
        if len(self.routes) == 1 and self.routes[0].pattern is None:
            return self.routes[0].topic
        return None

    def match(self, topic: str) -> Route | None:
        """The route of an assigned ``topic``, bound to it (:meth:`Route.bound`): the route
        named exactly, else the first pattern that matches (declaration order); None if none
        does. Called on the listener thread (it fills the cache)."""
        try:
            return self._cache[topic]
        except KeyError:
            pass
        found = next((r for r in self.routes if r.pattern is None and r.topic == topic), None)
        if found is None:
            found = next(
                (r for r in self.routes if r.pattern is not None and r.matches(topic)), None
            )
        bound = None if found is None else found.bound(topic)
        self._cache[topic] = bound
        return bound

    def route(self, topic: str) -> Route:
        """Like :meth:`match`, but raises ``KeyError`` for a topic no route matches."""
        found = self.match(topic)
        if found is None:
            raise KeyError(topic)
        return found


class RouteRegistry(Protocol):
    """Where a consumer group adds its routes (``parafka.App``; routing never imports it)."""

    settings: Settings

    def _add_route(self, route: Route) -> None: ...


class ConsumerGroup:
    """``app.consumer_group(name)``: route topics in a consumer group other than the default."""

    def __init__(self, app: RouteRegistry, group_id: str) -> None:
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
        deserializer: Deserializer[Any] = json_deserializer,
        key_deserializer: Deserializer[Any] = key_raw_deserializer,
        headers_deserializer: Deserializer[Any] = headers_raw_deserializer,
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
        pattern = _compile(name) if is_pattern(name) else None
        if not (inspect.isclass(consumer) and issubclass(consumer, Consumer)):
            raise ConfigurationError(
                f"topic {name!r}: consumer must be a subclass of parafka.Consumer, got {consumer!r}"
            )
        if consumer.consume is Consumer.consume:
            raise ConfigurationError(
                f"topic {name!r}: {consumer.__name__} does not implement consume(messages)"
            )
        _check_deserializer(name, "deserializer", deserializer, "the JSON value")
        _check_deserializer(name, "key_deserializer", key_deserializer, "the raw key")
        _check_deserializer(name, "headers_deserializer", headers_deserializer, "the raw headers")
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
            _check_dead_letter_topic(name, pattern, dead_letter_queue.topic)
        pause = self._app.settings.with_pauses(name, pause_timeout, pause_max_timeout)
        if config is not None and not isinstance(config, TopicConfig):
            raise ConfigurationError(f"topic {name!r}: config must be a parafka.TopicConfig")
        if config is not None and pattern is not None:
            raise ConfigurationError(
                f"topic {name!r}: config= declares one topic for `parafka topics` to create, "
                f"but {name!r} is a pattern; declare the matching topics by name instead"
            )
        overrides = validate_kafka(kafka or {}, f"topic {name!r} kafka=")
        if subscription_group is None:
            # Routes with equal settings share a connection; the name must not show values, and
            # is not derived from secret ones: a secret counts only by which distinct secret
            # of this process it is (equal secrets, equal names; nothing to guess from).
            settings = json.dumps(_without_secrets(overrides), sort_keys=True, default=str).encode()
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
            key_deserializer=key_deserializer,
            headers_deserializer=headers_deserializer,
            virtual_partitions=virtual_partitions,
            dead_letter_queue=dead_letter_queue,
            pause_timeout=pause[0],
            pause_max_timeout=pause[1],
            topic_config=config,
            asynchronous=inspect.iscoroutinefunction(consumer.consume),
            pattern=pattern,
        )
        self._app._add_route(route)
        return route


def _compile(name: str) -> re.Pattern[str]:
    try:
        return re.compile(name)
    except re.error as exc:
        raise ConfigurationError(
            f"topic {name!r}: a topic starting with '^' is a regular expression, and this one "
            f"does not compile ({exc})"
        ) from exc


def _check_deserializer(name: str, parameter: str, deserializer: object, default: str) -> None:
    """A deserializer is called with one argument, the message; say so at configuration time
    rather than on the first message (which would then be retried, or dead-lettered)."""
    if deserializer is None:
        raise ConfigurationError(
            f"topic {name!r}: {parameter} must be callable, got None (leave it out for {default})"
        )
    if not callable(deserializer):
        raise ConfigurationError(
            f"topic {name!r}: {parameter} must be callable (message -> result), "
            f"got {type(deserializer).__name__} {deserializer!r}"
        )
    if inspect.isclass(deserializer) and hasattr(deserializer, "model_validate_json"):
        raise ConfigurationError(
            f"topic {name!r}: {parameter} is the pydantic model {deserializer.__qualname__}, "
            f"which would be called with the message; pass "
            f"parafka.pydantic.model_deserializer({deserializer.__qualname__}) instead"
        )
    try:
        signature = inspect.signature(deserializer)
    except (TypeError, ValueError):  # some builtins and C callables have none: trust them
        return
    try:
        signature.bind(None)
    except TypeError as exc:
        raise ConfigurationError(
            f"topic {name!r}: {parameter} is called with one argument (the message), but "
            f"{getattr(deserializer, '__qualname__', deserializer)!r} cannot be ({exc})"
        ) from exc


def _check_dead_letter_topic(name: str, pattern: re.Pattern[str] | None, topic: str | None) -> None:
    """A dead letter topic must be a concrete name, and not one its own route reads (each dead
    letter would come back to the route, fail again and be dead-lettered again, for ever)."""
    if topic is None:
        return
    if is_pattern(topic):
        raise ConfigurationError(
            f"topic {name!r}: the dead letter queue topic must be a topic name, not a pattern "
            f"({topic!r})"
        )
    if pattern is not None and pattern.search(topic) is not None:
        raise ConfigurationError(
            f"topic {name!r}: the dead letter queue topic {topic!r} matches the route's own "
            f"pattern, so its dead letters would be consumed and dead-lettered again in a loop"
        )


_SECRET_ORDINALS: dict[str, int] = {}  # distinct secret values seen in this process, numbered


def _without_secrets(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with each secret value replaced by its ordinal among this process's secrets."""
    plain: dict[str, Any] = {}
    for key, value in config.items():
        if is_secret(key):
            plain[key] = f"secret-{_SECRET_ORDINALS.setdefault(str(value), len(_SECRET_ORDINALS))}"
        else:
            plain[key] = value
    return plain
