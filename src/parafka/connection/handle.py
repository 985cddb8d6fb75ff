"""The listener's client handle: which ``confluent_kafka.Consumer`` is current, the callbacks
parafka gives it, replacing it, closing it within a bound, and explaining its fatal errors.

Threads:

- :class:`ClientHandle` is built on the thread that builds the listener (``App.start``: a
  refused configuration surfaces there). After ``Listener.start()`` only the listener thread
  reads :attr:`ClientHandle.client` and calls :meth:`~ClientHandle.replace` and
  :meth:`~ClientHandle.close`.
- The client's ``stats_cb`` and ``on_commit`` run on the listener thread inside ``poll()``, or
  on a closer thread inside a closing client's ``close()``. Each client has a generation: the
  statistics of a replaced client no longer feed the group watch, and an ``on_commit`` counts
  as the current client's only on the listener thread for the current generation.
- :meth:`~ClientHandle.close` hands the client to a short-lived closer thread
  (``<listener>-close``), which commits the final offsets through that client and closes it,
  while the listener thread waits at most ``close_timeout``: librdkafka can block in
  ``close()`` for ever when its group state is stuck (seen after broker pauses and restarts,
  librdkafka#5511). Past the bound the client is abandoned to that thread, a
  :class:`~parafka.ClientStuck` error is published, and the app can still exit.

Out of the group (:mod:`parafka.connection.membership`): librdkafka's statistics say when the
member has known its coordinator but stayed out of the group for longer than
``rejoin_timeout``; the listener then calls :meth:`~ClientHandle.replace`, which gives up the
old client's partitions as lost, closes it (bounded as above) and builds a new one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from parafka.config import Settings
from parafka.connection.client import build_client
from parafka.connection.commits import CommitResult, read_commit
from parafka.connection.membership import GroupWatch, default_rejoin_timeout, group_state
from parafka.errors import ClientStuck, ConfigurationError
from parafka.instrumentation import Monitor

__all__ = ["ClientFactory", "ClientHandle"]

#: Builds a client from its settings; ``where`` names the connection in errors.
ClientFactory = Callable[[dict[str, Any], str], confluent_kafka.Consumer]


class ClientHandle:
    """A subscription group's current client and its lifecycle (see the module doc)."""

    def __init__(
        self,
        config: dict[str, Any],
        group_id: str,
        settings: Settings,
        monitor: Monitor,
        owner: threading.Thread,
        commit: Callable[[confluent_kafka.Consumer, list[TopicPartition]], bool],
        committed: Callable[[CommitResult, bool], None],
        factory: ClientFactory | None = None,
    ) -> None:
        """``config``: the client's librdkafka settings (a statistics interval is added);
        ``owner``: the listener thread; ``commit(client, offsets)``: a synchronous commit,
        which the closer thread runs for the final offsets; ``committed(result, current)``:
        receives each ``on_commit`` result; ``factory(config, where)``: builds each client
        (default: librdkafka's; ``parafka.testing`` passes its in-memory cluster's)."""
        self._factory = factory
        self._group_id = group_id
        self._monitor = monitor
        self._owner = owner
        self._close_timeout = settings.close_timeout
        self._commit = commit
        self._committed = committed
        self.instance_id = config.get("group.instance.id")
        rejoin = settings.rejoin_timeout or default_rejoin_timeout(config)
        #: How long the member has been out of its group (listener thread only).
        self.watch = GroupWatch(rejoin)
        self._user_stats = config.get("stats_cb")
        if self._user_stats is not None and not callable(self._user_stats):
            raise ConfigurationError(
                f"consumer group {group_id!r}: 'stats_cb' must be callable, "
                f"got {self._user_stats!r}"
            )
        self._user_on_commit = config.get("on_commit")
        if self._user_on_commit is not None and not callable(self._user_on_commit):
            raise ConfigurationError(
                f"consumer group {group_id!r}: 'on_commit' must be callable, "
                f"got {self._user_on_commit!r}"
            )
        # A report at least four times per rejoin_timeout, at most every 5 s (unless set).
        config.setdefault("statistics.interval.ms", max(100, min(5000, int(rejoin * 250))))
        self._config = config
        self._generation = 0  # which client the callbacks report for
        #: The current client. Created here (configuration errors surface in App.start);
        #: after start() only the listener thread uses it.
        self.client = self._new_client()

    def _new_client(self) -> confluent_kafka.Consumer:
        self._generation += 1
        generation = self._generation

        def on_stats(stats: str) -> None:
            if self._user_stats is not None:
                self._user_stats(stats)
            if generation == self._generation:
                group = group_state(stats)
                if group is not None:
                    self.watch.observe(time.monotonic(), group)

        def on_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
            if self._user_on_commit is not None:
                try:
                    self._user_on_commit(error, partitions)
                except Exception as exc:
                    self._monitor.publish("error.occurred", type="listener.on_commit", error=exc)
            self._committed(
                read_commit(error, partitions),
                generation == self._generation and threading.current_thread() is self._owner,
            )

        config = {**self._config, "stats_cb": on_stats, "on_commit": on_commit}
        factory = self._factory or build_client  # looked up here: tests replace it
        return factory(config, f"consumer group {self._group_id!r}")

    def replace(self, give_up: Callable[[confluent_kafka.Consumer], None]) -> None:
        """The member stayed out of its group (listener thread): ``give_up(old)`` gives its
        partitions up as lost (nothing is committed: the group's state is unknown); the old
        client is closed, bounded, and a new one becomes current. The caller subscribes it."""
        old = self.client
        self._monitor.publish(
            "error.occurred",
            type="listener.rejoin",
            error=ClientStuck(
                f"consumer group {self._group_id!r}: the client stayed out of its group "
                f"({self.watch.describe(time.monotonic())}, rejoin_timeout "
                f"{self.watch.limit:g} s); replacing it with a new one"
            ),
        )
        give_up(old)
        self.watch.reset()
        self.client = self._new_client()  # from here, the old client's callbacks are ignored
        try:
            self.close(old, [])
        except Exception as exc:  # the old client's troubles are not the new one's
            self._monitor.publish("error.occurred", type="listener.close", error=exc)

    def close(self, client: confluent_kafka.Consumer, offsets: list[TopicPartition]) -> None:
        """Commit ``offsets`` through ``client`` and close it, waiting at most ``close_timeout``.

        Both run on a helper thread, which owns the client from here on (the calling listener
        thread only waits for it); an error either raises is re-raised here. A client that does
        not finish in time is left to that (daemon) thread: nothing more is committed, and the
        group gets its partitions back when the broker's session timeout expires.
        """
        failure: list[BaseException] = []
        commit = self._commit

        def finish() -> None:
            try:
                if offsets:
                    commit(client, offsets)
                client.close()
            except BaseException as exc:
                failure.append(exc)

        closer = threading.Thread(target=finish, name=f"{self._owner.name}-close", daemon=True)
        closer.start()
        closer.join(self._close_timeout)
        if closer.is_alive():
            self._monitor.publish(
                "error.occurred",
                type="listener.close",
                error=ClientStuck(
                    f"consumer group {self._group_id!r}: the client's "
                    f"{'final commit and ' if offsets else ''}close did not return within "
                    f"close_timeout "
                    f"({self._close_timeout:g} s); abandoned (its partitions return to "
                    f"the group when the broker's session timeout expires)"
                ),
            )
        elif failure:
            raise failure[0]

    def fatal(self, error: KafkaError) -> KafkaException:
        """librdkafka's fatal error, explained when it is about static membership."""
        fenced_codes = (KafkaError.FENCED_INSTANCE_ID, KafkaError.UNRELEASED_INSTANCE_ID)
        if error.code() in fenced_codes or "fenced" in error.str().lower():
            return KafkaException(
                f"consumer group {self._group_id!r}: this member was fenced because another "
                f"member uses group.instance.id {self.instance_id!r} "
                f"({error.name()}: {error.str()}); give every process its own id"
            )
        return KafkaException(error)
