"""Testing parafka apps.

- Without a broker: :class:`Harness` runs an app's routes on the real engine over an in-memory
  cluster with a fake clock (:mod:`parafka.testing.harness`); :func:`message` and
  :func:`messages` build what ``consume()`` receives (:mod:`parafka.testing.builders`).
- With a real broker: helpers for topics, producing and offsets (:mod:`parafka.testing.kafka`).
- pytest fixtures ``parafka_harness``, ``kafka_broker`` and ``new_topic``
  (:mod:`parafka.testing.pytest_plugin`, registered through the ``pytest11`` entry point).
"""

from parafka.testing.builders import message, messages, raw_message
from parafka.testing.cluster import HarnessError
from parafka.testing.harness import FakeClock, Harness
from parafka.testing.kafka import (
    OffsetsUnavailable,
    committed_offsets,
    create_topic,
    end_offsets,
    produce_messages,
    retry_transient,
    transient,
)

__all__ = [
    "FakeClock",
    "Harness",
    "HarnessError",
    "OffsetsUnavailable",
    "committed_offsets",
    "create_topic",
    "end_offsets",
    "message",
    "messages",
    "produce_messages",
    "raw_message",
    "retry_transient",
    "transient",
]
