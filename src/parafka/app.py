"""``parafka.App``: routing, the shared worker pool, one listener per subscription group.

Threads: the app is configured and started on one thread (usually the main thread, which
``run()`` keeps until a signal or ``stop()``). ``stop()`` and ``request_stop()`` may be called
from any thread; the shutdown itself runs once, under ``_shutdown_lock``.

Shutdown order (steps 1-2 bounded by ``shutdown_timeout``, step 3 by ``close_timeout``):
1. listeners stop fetching (pause every partition) and stop dispatching new batches;
2. running batches finish, then each consumer instance's ``shutdown()`` hook runs;
3. listeners store and synchronously commit what finished work allows, then close their client
   (a client whose commit or close does not return in time is abandoned: its partitions go back
   to the group when the broker's session timeout expires);
4. the worker threads exit. Jobs still running at the deadline are reported (``shutdown.hanging``)
   and the stop is not clean: ``run()`` then exits with status 2. So is a listener that has not
   finished steps 1-3 by the deadline plus ``close_timeout`` (for example, blocked in a user
   callback that librdkafka runs on it): ``shutdown.hanging`` names it (``listeners``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Collection, Mapping
from types import FrameType
from typing import Any, ClassVar, Self

from parafka.config import Settings, mask_secrets, validate_kafka
from parafka.connection.budget import LIBRDKAFKA_FACTOR, BufferBudget
from parafka.connection.client import LIBRDKAFKA_LOG, redact_secrets_of
from parafka.connection.listener import Listener
from parafka.consumer import Consumer
from parafka.dead_letters import DeadLetterQueue
from parafka.deserializers import headers_raw_deserializer, key_raw_deserializer
from parafka.environment import (
    DEFAULT_KAFKA_PREFIX,
    DEFAULT_PREFIX,
    OTHER_VARIABLES,
    app_arguments,
    kafka_from_env,
    settings_from_env,
)
from parafka.errors import ConfigurationError
from parafka.instrumentation import LoggingSubscriber, Monitor
from parafka.messages import Deserializer, json_deserializer
from parafka.processing.coroutines import CoroutineRunner
from parafka.processing.virtual import VirtualPartitions
from parafka.processing.workers import WorkerPool
from parafka.producing import SharedProducer
from parafka.routing import ConsumerGroup, Route, SubscriptionGroup
from parafka.selection import select_routes
from parafka.topics import TopicConfig

__all__ = ["App"]


class App:
    """A parafka application: see the README for every setting."""

    #: The module the CLI is importing (``parafka server|info MODULE:APP``), else None. While it
    #: is set, :meth:`start` and :meth:`run` refuse: a module that starts its app when imported
    #: would run it inside ``parafka info``. Set and cleared by the CLI on the main thread.
    _importing: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        kafka: Mapping[str, Any],
        group_id: str = "parafka",
        concurrency: int = 5,
        max_messages: int = 100,
        max_wait_time: float = 0.0,
        shutdown_timeout: float = 60.0,
        close_timeout: float = 10.0,
        rejoin_timeout: float | None = None,
        pause_timeout: float = 1.0,
        pause_max_timeout: float = 30.0,
        max_backlog: int = 0,
        max_backlog_bytes: int = 4 * 1024 * 1024,
        max_buffered_bytes: int | None = None,
        critical_errors: tuple[type[BaseException], ...] = (),
        log_events: bool = True,
        watchdog_interval: float | None = 60.0,
    ) -> None:
        self.kafka = validate_kafka(kafka, "App(kafka=...)")
        if not str(self.kafka.get("bootstrap.servers", "")).strip():
            raise ConfigurationError(
                "App(kafka=...) needs 'bootstrap.servers' (e.g. {'bootstrap.servers': "
                "'127.0.0.1:9092'})"
            )
        if not isinstance(group_id, str) or not group_id.strip():
            raise ConfigurationError(f"group_id must be a non-empty string, got {group_id!r}")
        self.group_id = group_id
        self.settings = Settings(
            concurrency=concurrency,
            max_messages=max_messages,
            max_wait_time=max_wait_time,
            shutdown_timeout=shutdown_timeout,
            close_timeout=close_timeout,
            rejoin_timeout=rejoin_timeout,
            pause_timeout=pause_timeout,
            pause_max_timeout=pause_max_timeout,
            max_backlog=max_backlog,
            max_backlog_bytes=max_backlog_bytes,
            max_buffered_bytes=max_buffered_bytes,
            critical_errors=tuple(critical_errors),
            watchdog_interval=watchdog_interval,
        )
        self.monitor = Monitor()
        if log_events:
            LoggingSubscriber().attach(self.monitor)
        self.workers = WorkerPool(
            concurrency, self.monitor, watchdog_interval=self.settings.watchdog_interval
        )
        self._routes: list[Route] = []
        self._groups: dict[str, ConsumerGroup] = {}
        self._listeners: list[Listener] = []
        self._state = "new"  # new -> running -> stopped; guarded by _shutdown_lock
        self._shutdown_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._clean = True
        self.critical_error: BaseException | None = None
        self._runner: CoroutineRunner | None = None
        #: The process-wide budget for buffered messages (None: ``max_buffered_bytes`` unset).
        self._budget = (
            None
            if max_buffered_bytes is None
            else BufferBudget(self.settings.max_buffered_bytes or 0)
        )
        #: The app's shared producer (created at start): dead letters and ``Consumer.produce``.
        self.producer: SharedProducer | None = None
        #: Appended to every configured ``group.instance.id`` (``parafka swarm`` sets it to
        #: ``-<node index>`` in each node, so a restarted node rejoins as the same member).
        self._instance_suffix = ""

    @classmethod
    def from_env(
        cls,
        *,
        prefix: str = DEFAULT_PREFIX,
        kafka_prefix: str = DEFAULT_KAFKA_PREFIX,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Self:
        """An app whose settings come from environment variables (``environ``, default
        ``os.environ``), then from ``overrides``, then from the defaults.

        ``<prefix><SETTING>`` sets an App setting (``PARAFKA_CONCURRENCY=8``), converted to the
        setting's type (``none`` for an optional one, ``true``/``false`` for a flag, comma-
        separated ``module.Class`` for ``critical_errors``). ``<kafka_prefix><NAME>`` sets a
        librdkafka setting (``KAFKA_BOOTSTRAP_SERVERS`` -> ``bootstrap.servers``, ``__`` for a
        literal ``_``). Keyword arguments win over the environment; ``kafka=`` wins key by key
        over the ``KAFKA_`` variables. A value that does not convert, a librdkafka name or value
        that librdkafka refuses, and a ``<prefix>`` variable that names no setting are
        :class:`ConfigurationError` naming the variable (secret values masked).
        """
        environ = os.environ if environ is None else environ
        settings = settings_from_env(app_arguments(cls.__init__), environ, prefix, kafka_prefix)
        kafka = kafka_from_env(environ, kafka_prefix)
        explicit_kafka = overrides.pop("kafka", None) or {}
        if not isinstance(explicit_kafka, Mapping):
            raise ConfigurationError(
                "App.from_env(kafka=...) must be a dict of librdkafka settings"
            )
        settings.update(overrides)
        kafka = {**kafka, **explicit_kafka}
        if not str(kafka.get("bootstrap.servers", "")).strip():
            raise ConfigurationError(
                f"App.from_env: no 'bootstrap.servers': set {kafka_prefix}BOOTSTRAP_SERVERS "
                "(e.g. 127.0.0.1:9092) or pass kafka={'bootstrap.servers': ...}"
            )
        try:
            return cls(kafka=kafka, **settings)
        except ConfigurationError as exc:
            used = sorted(
                variable
                for variable in environ
                if variable.startswith((prefix, kafka_prefix)) and variable not in OTHER_VARIABLES
            )
            if not used:
                raise
            raise ConfigurationError(
                f"{exc} (read from the environment: {', '.join(used)})"
            ) from exc

    def __repr__(self) -> str:
        return (
            f"App(group_id={self.group_id!r}, kafka={mask_secrets(self.kafka)!r}, "
            f"settings={self.settings!r}, topics={[r.topic for r in self._routes]})"
        )

    # -- routing ---------------------------------------------------------------------------

    def consumer_group(self, name: str) -> ConsumerGroup:
        """Routes for another consumer group (its own connection and listener thread)."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = ConsumerGroup(self, name)
        return group

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
        """Route topic ``name`` of the default group (``group_id``) to ``consumer``.

        ``manual_offset_management``: only ``mark_as_consumed()`` marks messages.
        ``deserializer``: ``message -> payload`` (default JSON). ``key_deserializer``:
        ``message -> message.key`` (default the raw bytes). ``headers_deserializer``:
        ``message -> message.headers`` (default the list of ``(name, value)`` pairs); see
        ``parafka.deserializers``. ``kafka``: librdkafka settings for this topic's connection
        (a different value means a separate connection).
        ``subscription_group``: force a separate connection under this name.
        ``virtual_partitions``: process each partition in parallel lanes (ordered per key).
        ``dead_letter_queue``: where messages go after ``max_retries`` retries.
        ``pause_timeout`` / ``pause_max_timeout``: this topic's retry back-off bounds.
        ``config``: how the topic should exist (``parafka topics migrate`` creates/grows it).
        """
        return self.consumer_group(self.group_id).topic(
            name,
            consumer,
            manual_offset_management=manual_offset_management,
            deserializer=deserializer,
            key_deserializer=key_deserializer,
            headers_deserializer=headers_deserializer,
            kafka=kafka,
            subscription_group=subscription_group,
            virtual_partitions=virtual_partitions,
            dead_letter_queue=dead_letter_queue,
            pause_timeout=pause_timeout,
            pause_max_timeout=pause_max_timeout,
            config=config,
        )

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def _add_route(self, route: Route) -> None:
        if self._state != "new":
            raise ConfigurationError("routes must be added before the app starts")
        for existing in self._routes:
            if existing.group_id == route.group_id and existing.topic == route.topic:
                raise ConfigurationError(
                    f"topic {route.topic!r} is routed twice in consumer group {route.group_id!r}"
                )
        self._routes.append(route)

    def restrict(
        self,
        *,
        include_groups: Collection[str] = (),
        exclude_groups: Collection[str] = (),
        include_topics: Collection[str] = (),
        exclude_topics: Collection[str] = (),
    ) -> None:
        """Keep only some routes (``--include-consumer-groups`` and the like of ``parafka
        server`` and ``swarm``): an empty include keeps every group or topic, an exclude
        drops them. Names the app does not route, and a selection that leaves nothing, raise
        :class:`ConfigurationError`. Before ``start()`` only."""
        if self._state != "new":
            raise ConfigurationError("routes can be restricted only before the app starts")
        self._routes = select_routes(
            self._routes,
            include_groups=include_groups,
            exclude_groups=exclude_groups,
            include_topics=include_topics,
            exclude_topics=exclude_topics,
        )

    def _connections(
        self, node_suffix: str | None = None
    ) -> list[tuple[SubscriptionGroup, str, str | None]]:
        """Each connection the app opens: its subscription group, the suffix of its names
        (``-2`` for a group's second connection) and its ``group.instance.id`` (None without
        static membership), with ``node_suffix`` (default: this node's) appended."""
        node_suffix = self._instance_suffix if node_suffix is None else node_suffix
        counts: dict[str, int] = {}
        connections = []
        for group in self.subscription_groups():
            counts[group.group_id] = counts.get(group.group_id, 0) + 1
            suffix = "" if counts[group.group_id] == 1 else f"-{counts[group.group_id]}"
            instance = {**self.kafka, **group.kafka}.get("group.instance.id")
            connections.append(
                (group, suffix, f"{instance}{suffix}{node_suffix}" if instance else None)
            )
        return connections

    def subscription_groups(self) -> list[SubscriptionGroup]:
        """The connections the app will open: routes grouped by consumer group and settings."""
        grouped: dict[tuple[str, str], list[Route]] = {}
        for route in self._routes:
            grouped.setdefault((route.group_id, route.subscription_group), []).append(route)
        return [
            SubscriptionGroup(group_id, name, routes[0].kafka, tuple(routes))
            for (group_id, name), routes in grouped.items()
        ]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and listeners in background threads and return."""
        self._refuse_while_imported()
        with self._shutdown_lock:
            if self._state != "new":
                raise ConfigurationError(f"the app was already started (it is {self._state})")
            if not self._routes:
                raise ConfigurationError("no topics are routed: call app.topic(...) first")
            self.monitor.publish("app.starting", group_id=self.group_id)
            listeners: list[Listener] = []
            redact_secrets_of(self.kafka)
            self.producer = SharedProducer(self.kafka, LIBRDKAFKA_LOG, monitor=self.monitor)
            if any(route.asynchronous for route in self._routes):
                self._runner = CoroutineRunner(self.workers.jobs)
                self.workers.watch(self._runner.running)
            connections = self._connections()
            if self._budget is not None:
                self._budget.connections = len(connections)
            try:
                for group, suffix, instance in connections:
                    listeners.append(
                        Listener(
                            group,
                            self.kafka,
                            self.settings,
                            self.workers.jobs,
                            self.monitor,
                            self._on_critical,
                            thread_name=f"parafka-listener-{group.group_id}{suffix}",
                            producer=self.producer,
                            # Static membership: each connection of a group needs its own id.
                            instance_id=instance,
                            runner=self._runner,
                            budget=self._budget,
                        )
                    )
                if self._budget is not None:
                    self._reserve_prefetch(listeners)
            except BaseException:
                for listener in listeners:  # clients made before the bad one
                    listener.discard()
                if self.producer is not None:
                    self.producer.close(1.0)
                raise
            self._listeners = listeners
            self.workers.start()
            for listener in listeners:
                listener.start()
            self._state = "running"
        self.monitor.publish(
            "app.running",
            group_id=self.group_id,
            listeners=len(self._listeners),
            concurrency=self.settings.concurrency,
        )

    def _reserve_prefetch(self, listeners: list[Listener]) -> None:
        """Take what librdkafka may hold off the budget; refuse a budget it would fill."""
        assert self._budget is not None
        reserved = sum(listener.prefetch_bytes for listener in listeners)
        if reserved * 2 > self._budget.limit:
            raise ConfigurationError(
                f"max_buffered_bytes ({self._budget.limit:,}) must be at least twice "
                f"what librdkafka may hold for the app's {len(listeners)} connection(s) "
                f"({reserved:,} bytes: {LIBRDKAFKA_FACTOR} times queued.max.messages.kbytes "
                f"and fetch.max.bytes each): raise max_buffered_bytes or lower those in kafka="
            )
        self._budget.reserve(reserved)

    @property
    def buffered_bytes(self) -> int | None:
        """Estimated bytes of fetched, unfinished messages held now (keys, values and their
        Python objects), or None without ``max_buffered_bytes`` (any thread)."""
        return None if self._budget is None else self._budget.used

    def quiet(self) -> None:
        """Quiet mode (SIGTSTP): running work finishes, listeners keep polling so the group
        does not rebalance, and no new work starts until the app stops. Thread-safe."""
        # Only sets events (safe in a signal handler); each listener publishes listener.quieted.
        for listener in self._listeners:
            listener.request_quiet()

    def request_stop(self) -> None:
        """Ask ``run()`` to stop (thread-safe and signal-safe; returns at once)."""
        self._stop_requested.set()

    def stop(self) -> bool:
        """Stop and wait (at most ``shutdown_timeout``, plus ``close_timeout`` per connection);
        True if every job and every listener finished in time."""
        self._stop_requested.set()
        with self._shutdown_lock:
            if self._state == "running":
                self._clean = self._shutdown()
                self._state = "stopped"
            return self._clean

    def run(self) -> None:
        """Start, block until SIGINT/SIGTERM or ``stop()``, shut down; exit 2 if jobs or a
        listener hung."""
        self._refuse_while_imported()
        self._install_signals()
        self.start()
        status = self._serve()
        if status:
            sys.exit(status)

    def _serve(self) -> int:
        """After ``start()``: block until a stop is requested, stop, and return the exit
        status: 0 clean, 1 after a critical error, 2 if jobs or a listener hung."""
        while not self._stop_requested.wait(0.2):
            pass
        if not self.stop():
            return 2
        return 1 if self.critical_error is not None else 0

    def _refuse_while_imported(self) -> None:
        if App._importing is not None:
            raise ConfigurationError(
                f"module {App._importing!r} starts its app while being imported; put app.run() "
                f'under `if __name__ == "__main__":` so that parafka server/info can import it'
            )

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (a signal, ``stop()``, a critical error)."""
        return self._stop_requested.is_set()

    def _on_critical(self, error: BaseException) -> None:
        if self.critical_error is None:
            self.critical_error = error
        self.request_stop()

    def _shutdown(self) -> bool:
        timeout = self.settings.shutdown_timeout
        deadline = time.monotonic() + timeout
        self.monitor.publish("app.stopping", group_id=self.group_id, timeout=timeout)
        for listener in self._listeners:
            listener.request_stop(deadline)
        unfinished: list[str] = []
        for listener in self._listeners:
            # Past the deadline a listener still commits and closes, within close_timeout.
            bound = max(0.0, deadline - time.monotonic()) + self.settings.close_timeout + 1.0
            if not listener.join(bound):
                unfinished.append(f"{listener.describe()} (did not finish its shutdown)")
        if self.producer is not None:
            self.producer.close(max(1.0, deadline - time.monotonic()))
        hanging = [f"{b.job} on {b.worker} for {b.running_for:.1f} s" for b in self.workers.busy()]
        for listener in self._listeners:
            hanging.extend(f"{job} (async)" for job in listener.running_coroutines())
        if hanging or unfinished:
            self.monitor.publish("shutdown.hanging", jobs=hanging, listeners=unfinished)
        workers_done = self.workers.stop(max(0.0, deadline - time.monotonic()) if hanging else 5.0)
        if self._runner is not None:
            self._runner.stop()
        clean = not hanging and not unfinished and workers_done
        self.monitor.publish("app.stopped", group_id=self.group_id, clean=clean)
        return clean

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self._stop_requested.is_set():
                sys.stderr.write(f"parafka: second {signal.Signals(signum).name}, exiting now\n")
                os._exit(2)
            self.request_stop()

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGQUIT, handle)
        signal.signal(signal.SIGTTIN, lambda _signum, _frame: self.log_diagnostics())
        signal.signal(signal.SIGTSTP, lambda _signum, _frame: self.quiet())

    def health(self, stall_after: float = 60.0) -> str | None:
        """None while the app runs and every listener polls (the last turn less than
        ``stall_after`` seconds ago); else the reason, e.g. ``"parafka-listener-shop has not
        polled for 75.2 s"``. ``parafka swarm`` nodes report it to the supervisor. Any thread."""
        if self._state != "running":
            return f"the app is {self._state}"
        if self.critical_error is not None:
            return f"critical error: {type(self.critical_error).__name__}: {self.critical_error}"
        now = time.monotonic()
        reasons = [r for r in (lst.health(now, stall_after) for lst in self._listeners) if r]
        return "; ".join(reasons) or None

    def diagnostics(self) -> str:
        """Every parafka thread's stack and the processing state, as text (any thread)."""
        frames = sys._current_frames()
        lines = [f"parafka diagnostics: {self!r}"]
        for listener in self._listeners:
            lines.append(f"  {listener.describe()}")
        if self._budget is not None:
            lines.append(f"  memory: {self._budget.describe()}")
        busy = self.workers.busy()
        queued = len(self.workers.jobs)
        lines.append(f"  workers: {self.workers.size} ({len(busy)} busy), queued jobs: {queued}")
        lines.extend(f"    {b.worker}: {b.job} for {b.running_for:.1f} s" for b in busy)
        for thread in threading.enumerate():
            if not thread.name.startswith("parafka-") or thread.ident not in frames:
                continue
            lines.append(f"  thread {thread.name}:")
            stack = traceback.format_stack(frames[thread.ident])
            lines.extend("    " + line.rstrip().replace("\n", "\n    ") for line in stack)
        return "\n".join(lines)

    def log_diagnostics(self) -> None:
        """Write :meth:`diagnostics` to the ``parafka`` logger (SIGTTIN does this)."""
        logging.getLogger("parafka").warning("%s", self.diagnostics())
