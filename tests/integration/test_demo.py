"""``run_demo`` against the session broker: both runs process every message once, in order."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from parafka.demo import run_demo

pytestmark = pytest.mark.integration


def test_demo_processes_every_message_once_in_partition_order(kafka_bootstrap: str) -> None:
    output = io.StringIO()
    console = Console(file=output, width=120, color_system=None)

    result = run_demo(
        messages=300, partitions=3, concurrency=4, bootstrap=kafka_bootstrap, console=console
    )

    assert result.ok, output.getvalue()
    assert (result.messages, result.partitions) == (300, 3)
    assert [run.concurrency for run in result.runs] == [1, 4]
    assert len({run.group_id for run in result.runs}) == 2
    for run in result.runs:
        assert run.completed
        assert run.error is None
        assert run.processed == run.handled == 300
        assert (run.duplicates, run.missing) == (0, 0)
        assert run.out_of_order == ()
    text = output.getvalue()
    assert "using the broker at" in text
    assert "speed-up" in text
    assert "ordering kept" in text
    assert "nothing lost" in text
    assert "exactly once" not in text  # parafka promises at-least-once
    assert "FAILED" not in text
