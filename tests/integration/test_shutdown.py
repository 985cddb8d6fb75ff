"""Shutdown with a job that never finishes: exit status 2 naming the job, its message redone
after a restart; a clean SIGTERM exits 0."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from parafka.testing import produce_messages

from .helpers import committed, read_record, recording_env, serving, wait_until

pytestmark = pytest.mark.integration


def processed(path: Path) -> list[tuple[int, int]]:
    return [(int(f[1]), int(f[2])) for f in read_record(path) if f[0] == "P"]


def test_a_hanging_job_exits_2_and_its_message_is_processed_after_restart(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(20)))
    first_out, console = tmp_path / "first.log", tmp_path / "first.console"
    env = recording_env(kafka_bootstrap, topic, group, shutdown_timeout="3", max_messages="1")
    with serving(
        {**env, "RECORDING_OUT": str(first_out), "RECORDING_HANG": "0:5"}, console
    ) as hung:
        # Partition 1 completes; partition 0 stops at offset 5 (0..4 done, 5 hangs).
        wait_until(
            lambda: (
                sorted(processed(first_out))
                == [(0, i) for i in range(5)] + [(1, i) for i in range(10)]
            ),
            60,
            "everything before the hanging message",
        )
        hung.send_signal(signal.SIGTERM)
        code = hung.wait(60)
    output = console.read_text()
    assert code == 2, output[-3000:]
    assert f"{group}/{topic}/0 offsets 5..5" in output  # the hanging job is named
    assert committed(kafka_bootstrap, group, topic, 2) == {0: 5, 1: 10}

    second_out = tmp_path / "second.log"
    with serving({**env, "RECORDING_OUT": str(second_out)}, tmp_path / "second.console") as second:
        wait_until(
            lambda: len(processed(second_out)) == 5, 60, "the rest of partition 0 after restart"
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    assert processed(second_out) == [(0, i) for i in range(5, 10)]
    assert committed(kafka_bootstrap, group, topic, 2) == {0: 10, 1: 10}


def test_a_second_signal_exits_at_once(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = new_topic(partitions=1), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", 0) for _ in range(3)))
    out, console = tmp_path / "out.log", tmp_path / "console.log"
    env = recording_env(
        kafka_bootstrap, topic, group, shutdown_timeout="600", hang="0:1", out=str(out)
    )
    with serving(env, console) as process:
        wait_until(lambda: processed(out) == [(0, 0)], 60, "the message before the hang")
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: "app.stopping" in console.read_text(), 30, "the shutdown to begin")
        process.send_signal(signal.SIGTERM)
        # Without the second signal the shutdown would wait 600 s for the hanging job.
        code = process.wait(30)
    assert code == 2
    assert "second SIGTERM, exiting now" in console.read_text()


def test_sigttin_logs_diagnostics_and_sigquit_stops_cleanly(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(4)))
    out, console = tmp_path / "out.log", tmp_path / "console.log"
    with serving(recording_env(kafka_bootstrap, topic, group, out=str(out)), console) as process:
        wait_until(lambda: len(processed(out)) == 4, 60, "4 messages")
        process.send_signal(signal.SIGTTIN)
        wait_until(lambda: "parafka diagnostics" in console.read_text(), 30, "diagnostics")
        process.send_signal(signal.SIGQUIT)
        code = process.wait(60)
    text = console.read_text()
    assert code == 0, text[-3000:]
    assert f"thread parafka-listener-{group}" in text
    assert "2 partitions, 0 paused, 0 jobs in flight" in text
    assert "workers: 4 (0 busy)" in text
    assert committed(kafka_bootstrap, group, topic, 2) == {0: 2, 1: 2}


def test_sigtstp_quiet_mode_finishes_work_keeps_the_group_and_takes_nothing_new(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = new_topic(partitions=2), unique_name("g")
    produce_messages(kafka_bootstrap, topic, ((None, b"x", i % 2) for i in range(10)))
    out, console = tmp_path / "out.log", tmp_path / "console.log"
    with serving(recording_env(kafka_bootstrap, topic, group, out=str(out)), console) as process:
        wait_until(lambda: len(processed(out)) == 10, 60, "10 messages")
        process.send_signal(signal.SIGTSTP)
        wait_until(lambda: "listener.quieted" in console.read_text(), 30, "quiet mode")
        produce_messages(kafka_bootstrap, topic, ((None, b"y", i % 2) for i in range(6)))
        # Quiet: the new messages stay unprocessed while the member keeps its partitions.
        # (A bounded look: the listener polls every 50 ms, so a second is many turns.)
        time.sleep(1.5)
        assert len(processed(out)) == 10
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    text = console.read_text()
    assert code == 0, text[-3000:]
    assert "rebalance.revoked" not in text.split("listener.quieted")[1].split("app.stopping")[0]
    assert committed(kafka_bootstrap, group, topic, 2) == {0: 5, 1: 5}
