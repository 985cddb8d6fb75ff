"""``parafka info`` prints the routing with secrets masked; ``parafka server`` runs an app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import ROOT

pytestmark = pytest.mark.integration

APP = """
import parafka

class Orders(parafka.Consumer):
    def consume(self, messages):
        pass

app = parafka.App(
    kafka={"bootstrap.servers": "127.0.0.1:9", "sasl.password": "canary-pw-123"},
    group_id="shop",
    concurrency=3,
)
app.topic("orders", Orders)
app.consumer_group("audit").topic("orders", Orders, manual_offset_management=True)
"""


def parafka_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parafka.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )


def test_info_shows_groups_topics_consumers_and_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "shopapp.py").write_text(APP)
    result = parafka_cli("info", "shopapp:app", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "consumer group 'shop', subscription group 'default'" in out
    assert "consumer group 'audit', subscription group 'default'" in out
    assert "topic 'orders' -> shopapp.Orders (automatic offsets)" in out
    assert "topic 'orders' -> shopapp.Orders (manual offsets)" in out
    assert "concurrency=3" in out
    assert "'sasl.password': '***'" in out
    assert "canary-pw-123" not in out + result.stderr


def test_server_names_a_bad_target(tmp_path: Path) -> None:
    result = parafka_cli("server", "nowhere:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot import 'nowhere'" in result.stderr
    (tmp_path / "notanapp.py").write_text("app = 42\n")
    result = parafka_cli("server", "notanapp:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "notanapp:app is int, not a parafka.App" in result.stderr
