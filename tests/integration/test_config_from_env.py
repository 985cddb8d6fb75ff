"""An app configured only by environment variables consumes from the real broker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import parafka
from parafka.testing import produce_messages

from .helpers import Record, committed, running, wait_until

pytestmark = pytest.mark.integration


def test_an_app_from_the_environment_consumes_and_commits(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=2)
    group = unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(200)))
    record = Record()

    class Recording(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            record.add(messages)

    app = parafka.App.from_env(
        environ={
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA_AUTO_OFFSET_RESET": "earliest",
            "KAFKA_CLIENT_ID": "from-env",
            "PARAFKA_GROUP_ID": group,
            "PARAFKA_CONCURRENCY": "3",
            "PARAFKA_MAX_MESSAGES": "10",
            "PARAFKA_LOG_EVENTS": "false",
        }
    )
    assert app.group_id == group
    assert app.settings.concurrency == 3
    app.topic(topic, Recording, deserializer=parafka.raw_deserializer)
    with running(app):
        wait_until(lambda: record.count() >= 200, 60, "200 messages")
        wait_until(
            lambda: committed(kafka_bootstrap, group, topic, 2) == {0: 100, 1: 100},
            30,
            f"group {group} (PARAFKA_GROUP_ID) to commit both partitions",
        )
    assert record.offsets == {0: list(range(100)), 1: list(range(100))}
    assert all(size <= 10 for _, size, _ in record.batches)  # PARAFKA_MAX_MESSAGES
    workers = {thread for _, _, thread in record.batches}
    assert all(name.startswith("parafka-worker-") for name in workers), workers
