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
app.topic("orders", Orders, dead_letter_queue=parafka.DeadLetterQueue(topic="orders.dlq"))
app.topic(
    "clicks",
    Orders,
    virtual_partitions=parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=4),
    kafka={"fetch.min.bytes": 10},
)
app.consumer_group("audit").topic(
    "orders", Orders, manual_offset_management=True, deserializer=parafka.raw_deserializer
)
app.run()  # the CLI refuses to start it while importing
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
    (tmp_path / "shopapp.py").write_text(APP.replace("app.run()", ""))
    result = parafka_cli("info", "shopapp:app", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = [line.split("  ") for line in out.splitlines()]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert ["concurrency", "3"] in cells
    assert ["sasl.password", "***"] in cells
    assert ["fetch.min.bytes", "10"] in cells
    header = next(c for c in cells if c and c[0] == "GROUP")
    assert header[:5] == ["GROUP", "SUBSCRIPTION GROUP", "TOPIC", "CONSUMER", "OFFSETS"]
    routes = [c for c in cells if len(c) == 8 and c[0] != "GROUP"]
    assert len(routes) == 3, out
    shop_orders, shop_clicks, audit_orders = routes
    assert shop_orders[:5] == ["shop", "default", "orders", "shopapp.Orders", "automatic"]
    assert shop_orders[5:] == ["-", "orders.dlq after 3 retries", "json"]
    assert shop_clicks[2] == "clicks"
    assert shop_clicks[1] != "default"
    assert shop_clicks[5].startswith("4 lanes, balanced, by shopapp.<lambda>")
    assert shop_clicks[6] == "- (retried forever)"
    assert audit_orders[:5] == ["audit", "default", "orders", "shopapp.Orders", "manual"]
    assert audit_orders[7] == "raw"
    assert out.count("connection: consumer group") == 3
    assert "canary-pw-123" not in out + result.stderr


def test_info_refuses_a_module_that_starts_its_app_at_import(tmp_path: Path) -> None:
    (tmp_path / "startsapp.py").write_text(APP)
    result = parafka_cli("info", "startsapp:app", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: cannot load 'startsapp': configuration error: module 'startsapp' starts its app "
        'while being imported; put app.run() under `if __name__ == "__main__":` so that parafka '
        f"server/info can import it (at {tmp_path / 'startsapp.py'}:23)"
    ]


def test_server_names_a_bad_target(tmp_path: Path) -> None:
    result = parafka_cli("server", "nowhere:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot import 'nowhere': no module named 'nowhere'" in result.stderr
    (tmp_path / "notanapp.py").write_text("app = 42\n")
    result = parafka_cli("server", "notanapp:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "notanapp:app is int, not a parafka.App instance" in result.stderr


def test_server_reports_a_configuration_error_at_start_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "noroutes.py").write_text(
        "import parafka\napp = parafka.App(kafka={'bootstrap.servers': '127.0.0.1:9'})\n"
    )
    result = parafka_cli("server", "noroutes:app", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "error: no topics are routed: call app.topic(...) first"
    )
    assert "Traceback" not in result.stderr
