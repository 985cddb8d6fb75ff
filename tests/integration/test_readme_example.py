"""The README's first app runs as written: ``parafka server shop:app`` processes orders.

The code block under "## Your first app" is copied to ``shop.py`` with only its names made unique
to this test (topics, consumer groups); the broker's address reaches it through
``KAFKA_BOOTSTRAP_SERVERS``, which the example reads. SIGTERM then stops it cleanly (status 0).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from parafka.testing import end_offsets, produce_messages

from .helpers import ROOT, committed, read_all, wait_until

pytestmark = pytest.mark.integration

MARKER = "<!-- This block is run as written by tests/integration/test_readme_example.py"


def usage_example() -> str:
    """The first ```python block after the marker, inside the README's "## Your first app"."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Your first app\n") :]
    section = section[: section.index("\n## ", 1)]
    after = section[section.index(MARKER) :]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, "no ```python block after the marker in the README's first-app section"
    return match.group(1)


def substitute(code: str, old: str, new: str) -> str:
    assert old in code, f"the README example no longer contains {old!r}"
    return code.replace(old, new)


def test_the_usage_example_runs_under_parafka_server(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic, shop, audit = new_topic(partitions=1), unique_name("shop"), unique_name("audit")
    dead_letters = new_topic(partitions=1)
    code = usage_example()
    code = substitute(code, '"orders.dlq"', repr(dead_letters))
    code = substitute(code, 'group_id="shop"', f"group_id={shop!r}")
    code = substitute(code, 'consumer_group("audit")', f"consumer_group({audit!r})")
    code = substitute(code, '"orders"', repr(topic))
    (tmp_path / "shop.py").write_text(code)

    orders = [{"id": i, "item": f"item-{i}", "quantity": i % 3 + 1} for i in range(5)]
    produce_messages(
        kafka_bootstrap, topic, ((None, json.dumps(order).encode(), 0) for order in orders)
    )
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PYTHONPATH": str(ROOT / "src"),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "parafka.cli", "server", "shop:app"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def processed() -> bool:
            text = log.read_text()
            return (
                all(f"order {o['id']}: {o['quantity']} x {o['item']}" in text for o in orders)
                and "audit: partition 0, offsets" in text
                and re.search(r"audit: partition 0, offsets \d+-4\b", text) is not None
            )

        wait_until(lambda: processed() or process.poll() is not None, 90, "the example's log lines")
        assert process.poll() is None, log.read_text()
        assert processed(), log.read_text()
        wait_until(
            lambda: (
                committed(kafka_bootstrap, shop, topic, 1) == end_offsets(kafka_bootstrap, topic)
            ),
            60,
            "the shop group's commit at the end",
        )
        # A message the default JSON deserializer refuses: retried, then dead-lettered (the
        # warning under the example), and the partition moves on to the message after it.
        good = json.dumps({"id": 99, "item": "late", "quantity": 1}).encode()
        produce_messages(kafka_bootstrap, topic, [(None, b"not json", 0), (None, good, 0)])
        wait_until(
            lambda: "order 99: 1 x late" in log.read_text() or process.poll() is not None,
            90,
            "the order behind the malformed one",
        )
        assert process.poll() is None, log.read_text()
        letters = read_all(kafka_bootstrap, dead_letters, 1)
        assert [letter.value() for letter in letters] == [b"not json"]
        assert dict(letters[0].headers() or [])["parafka-original-offset"] == b"5"
        wait_until(
            lambda: committed(kafka_bootstrap, shop, topic, 1) == {0: 7},
            60,
            "the shop group's commit past the dead letter",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    text = log.read_text()
    assert "partition 0: 6 orders" in text, text  # the shutdown() hook ran
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 4, text  # the malformed message's four attempts, and nothing else
    assert all("consumer.consume" in line and "first_offset=5" in line for line in errors), text
    assert committed(kafka_bootstrap, audit, topic, 1) == {0: 7}
