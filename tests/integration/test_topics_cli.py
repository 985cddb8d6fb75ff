"""``parafka topics plan|migrate|list|delete``: declared topics against the real broker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from .helpers import ROOT

pytestmark = pytest.mark.integration

APP = """
import parafka

class Noop(parafka.Consumer):
    def consume(self, messages):
        pass

app = parafka.App(kafka={{"bootstrap.servers": "{bootstrap}"}}, group_id="g")
app.topic("{name}", Noop, config=parafka.TopicConfig(
    partitions={partitions}, settings={{"retention.ms": "{retention}"}}))
app.topic("{name}-plain", Noop)
"""


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parafka.cli", "topics", *args, "declared:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # The app module is rewritten between calls, within a second and at the same size:
        # no bytecode cache, or a stale one would be imported.
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT / "src"),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )


def write_app(tmp_path: Path, bootstrap: str, name: str, partitions: int, retention: int) -> None:
    (tmp_path / "declared.py").write_text(
        APP.format(bootstrap=bootstrap, name=name, partitions=partitions, retention=retention)
    )


def test_plan_migrate_grow_list_and_delete_only_when_confirmed(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    name = unique_name("declared")
    write_app(tmp_path, kafka_bootstrap, name, 2, 3_600_000)

    planned = cli(tmp_path, "plan")
    assert planned.returncode == 0, planned.stderr
    assert f"create        {name}: 2 partitions, replication 1" in planned.stdout
    assert f"{name}-plain" not in planned.stdout  # no config=: not managed

    migrated = cli(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"done: create        {name}" in migrated.stdout
    assert cli(tmp_path, "migrate").stdout.strip() == "nothing to change"  # idempotent
    assert cli(tmp_path, "plan").stdout.strip() == "nothing to change"

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, name)
    retention = admin.describe_configs([resource])[resource].result(30)["retention.ms"].value
    assert retention == "3600000"

    write_app(tmp_path, kafka_bootstrap, name, 5, 7_200_000)
    planned = cli(tmp_path, "plan").stdout
    assert f"grow          {name}: partitions 2 -> 5" in planned
    assert f"configure     {name}: retention.ms: 3600000 -> 7200000" in planned
    assert cli(tmp_path, "migrate").returncode == 0
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 5

    write_app(tmp_path, kafka_bootstrap, name, 3, 7_200_000)
    assert f"cannot-shrink {name}: has 5 partitions, declared 3" in cli(tmp_path, "plan").stdout

    listed = cli(tmp_path, "list").stdout
    assert f"* {name} (5 partitions)" in listed

    refused = cli(tmp_path, "delete")
    assert refused.returncode == 2
    assert "refusing to delete anything without --delete" in refused.stderr
    assert name in admin.list_topics(timeout=10).topics
    deleted = cli(tmp_path, "delete", "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {name}" in deleted.stdout
