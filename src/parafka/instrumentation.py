"""The event bus: ``app.monitor.subscribe(name, callback)`` with a closed set of event names.

Events are published from whichever thread the thing happens on (the listener for polls,
offsets and rebalances, a worker for processing); subscribers must be quick and thread-safe.
A subscriber that raises is logged and skipped: it can never break processing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = ["EVENT_NAMES", "Event", "EventName", "LoggingSubscriber", "Monitor"]

EventName = Literal[
    "app.starting",
    "app.running",
    "app.stopping",
    "app.stopped",
    "listener.polled",
    "listener.paused",
    "listener.resumed",
    "listener.quieted",
    "worker.started",
    "worker.processed",
    "worker.slow",
    "worker.stopped",
    "consumer.initialized",
    "consumer.revoked",
    "consumer.shutdown",
    "consumer.eofed",
    "workers.scaled",
    "consumer.retry",
    "consumer.paused",
    "dead_letter_queue.dispatched",
    "offsets.stored",
    "offsets.committed",
    "offsets.rewound",
    "rebalance.assigned",
    "rebalance.revoked",
    "rebalance.lost",
    "shutdown.hanging",
    "error.occurred",
    "swarm.starting",
    "swarm.stopped",
    "node.started",
    "node.exited",
    "node.restarted",
    "node.hung",
]

#: Every event name, for validation and documentation.
EVENT_NAMES: frozenset[str] = frozenset(get_args(EventName))

_log = logging.getLogger("parafka")


@dataclass(frozen=True, slots=True)
class Event:
    """One published event: its name and what it carries (see the README's event table)."""

    name: EventName
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]


Subscriber = Callable[[Event], object]


class Monitor:
    """Subscribers per event name. ``subscribe`` may be called at any time from any thread."""

    def __init__(self) -> None:
        # Guards _subscribers; publishing reads a snapshot tuple without the lock.
        self._lock = threading.Lock()
        self._subscribers: dict[str, tuple[Subscriber, ...]] = {}

    def subscribe(self, name: EventName | Literal["*"], callback: Subscriber) -> None:
        """Call ``callback(event)`` for every event named ``name`` (``"*"``: every event)."""
        if name != "*" and name not in EVENT_NAMES:
            from parafka.errors import ConfigurationError

            known = ", ".join(sorted(EVENT_NAMES))
            raise ConfigurationError(f"unknown event name {name!r}; known events: {known}")
        with self._lock:
            self._subscribers[name] = (*self._subscribers.get(name, ()), callback)

    def unsubscribe(self, name: EventName | Literal["*"], callback: Subscriber) -> None:
        """Remove a subscription made with :meth:`subscribe`."""
        with self._lock:
            kept = tuple(cb for cb in self._subscribers.get(name, ()) if cb is not callback)
            self._subscribers[name] = kept

    def listens(self, name: EventName) -> bool:
        """True when publishing ``name`` would reach someone (lets hot paths skip the payload)."""
        return bool(self._subscribers.get(name) or self._subscribers.get("*"))

    def publish(self, name: EventName, **payload: Any) -> None:
        """Deliver an event to its subscribers, on the calling thread."""
        subscribers = self._subscribers.get(name, ()) + self._subscribers.get("*", ())
        if not subscribers:
            return
        event = Event(name, payload)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                _log.exception("event subscriber %r failed on %s", callback, name)


class LoggingSubscriber:
    """Logs lifecycle events at INFO, slow jobs (``worker.slow``, with their stack) at WARNING
    and errors at ERROR on the ``parafka`` logger."""

    _INFO: frozenset[str] = frozenset(
        {
            "app.running",
            "app.stopping",
            "app.stopped",
            "listener.quieted",
            "rebalance.assigned",
            "rebalance.revoked",
            "rebalance.lost",
            "consumer.retry",
            "consumer.paused",
            "dead_letter_queue.dispatched",
            "swarm.starting",
            "node.started",
            "node.restarted",
        }
    )

    #: Logged at WARNING: a node that exited while the swarm was not stopping, or hung; and a
    #: swarm that stopped with an error.
    _WARNING: frozenset[str] = frozenset({"node.exited", "node.hung", "swarm.stopped"})

    #: Every event it logs: subscribe it to these only (:meth:`attach`), so that events it
    #: would ignore, such as ``worker.processed`` once per batch, are not even built for it.
    LOGGED: frozenset[str] = (
        _INFO | _WARNING | {"error.occurred", "worker.slow", "shutdown.hanging"}
    )

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or _log

    def attach(self, monitor: Monitor) -> None:
        """Subscribe to the events it logs, and to no other."""
        for name in sorted(self.LOGGED):
            monitor.subscribe(name, self)  # type: ignore[arg-type]

    def __call__(self, event: Event) -> None:
        if event.name == "error.occurred":
            error = event.payload.get("error")
            self._logger.error(
                "%s: %s",
                event.payload.get("type", "error"),
                _describe(event.payload),
                exc_info=error if isinstance(error, BaseException) else None,
            )
        elif event.name == "worker.slow":
            payload = event.payload
            self._logger.warning(
                "worker.slow: %s on %s has run for %.1f s (watchdog_interval %g s); stack:\n%s",
                payload.get("job"),
                payload.get("worker"),
                payload.get("running", 0.0),
                payload.get("interval", 0.0),
                payload.get("stack") or "  (not available)",
            )
        elif event.name == "shutdown.hanging":
            self._logger.error(
                "shutdown timed out; hanging: %s",
                [*event.payload.get("jobs", ()), *event.payload.get("listeners", ())],
            )
        elif event.name in self._WARNING:
            payload = event.payload
            quiet = (event.name == "node.exited" and payload.get("stopping")) or (
                event.name == "swarm.stopped" and not payload.get("error")
            )
            level = logging.INFO if quiet else logging.WARNING
            self._logger.log(level, "%s %s", event.name, _describe(payload))
        elif event.name in self._INFO:
            self._logger.info("%s %s", event.name, _describe(event.payload))


def _describe(payload: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in payload.items() if key != "error")
