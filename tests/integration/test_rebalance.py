"""A second process joins and leaves the group while messages flow: nothing is lost, and no
offset is stored or committed past unfinished work — with eager, cooperative-sticky and KIP-848
assignment, with and without virtual partitions."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from parafka.testing import end_offsets, produce_messages

from .helpers import committed, read_record, server, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4


def processed(path: Path) -> dict[int, set[int]]:
    result: dict[int, set[int]] = {p: set() for p in range(PARTITIONS)}
    for fields in read_record(path):
        if fields[0] == "P":
            result[int(fields[1])].add(int(fields[2]))
    return result


def assignments(path: Path) -> list[str]:
    return [" ".join(fields[1:]) for fields in read_record(path) if fields[0] == "A"]


@pytest.mark.parametrize(
    ("protocol", "lanes"),
    [("eager", 0), ("cooperative", 0), ("consumer", 0), ("cooperative", 4), ("consumer", 4)],
    ids=["eager", "cooperative", "kip848", "cooperative-vp", "kip848-vp"],
)
def test_a_member_joining_and_leaving_loses_nothing(
    protocol: str,
    lanes: int,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = new_topic(partitions=PARTITIONS), unique_name("g")
    env = {
        "RECORDING_BOOTSTRAP": kafka_bootstrap,
        "RECORDING_TOPIC": topic,
        "RECORDING_GROUP": group,
        "RECORDING_PROTOCOL": protocol,
        "RECORDING_VP": str(lanes),
    }
    first_out, second_out = tmp_path / "first.log", tmp_path / "second.log"
    produced = [0]
    stop_producing = threading.Event()

    def produce() -> None:
        # A steady trickle, so that work is in flight whenever the group rebalances.
        while not stop_producing.is_set():
            produce_messages(
                kafka_bootstrap, topic, ((f"k{i % 9}".encode(), b"x", None) for i in range(40))
            )
            produced[0] += 40
            stop_producing.wait(0.05)

    producer = threading.Thread(target=produce)
    first = server({**env, "RECORDING_OUT": str(first_out)}, tmp_path / "first.console")
    second = None
    producer.start()
    try:
        wait_until(lambda: len(assignments(first_out)) >= 1, 60, "the first member's assignment")
        wait_until(lambda: sum(map(len, processed(first_out).values())) > 200, 60, "progress")
        second = server({**env, "RECORDING_OUT": str(second_out)}, tmp_path / "second.console")
        wait_until(
            lambda: any(p for p in processed(second_out).values()), 90, "the second member to work"
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "second.console").read_text()[-3000:]
        before = sum(map(len, processed(first_out).values()))
        wait_until(
            lambda: sum(map(len, processed(first_out).values())) > before + 200,
            90,
            "the first member to take everything back",
        )
    finally:
        stop_producing.set()
        producer.join(60)
        if second is not None and second.poll() is None:
            second.kill()
    ends = end_offsets(kafka_bootstrap, topic)
    assert sum(ends.values()) == produced[0]

    def all_processed() -> bool:
        first_done, second_done = processed(first_out), processed(second_out)
        return all(first_done[p] | second_done[p] >= set(range(ends[p])) for p in range(PARTITIONS))

    try:
        wait_until(all_processed, 90, "every produced message to be processed")
    finally:
        first.send_signal(signal.SIGTERM)
        code = first.wait(60)
    assert code == 0, (tmp_path / "first.console").read_text()[-3000:]
    assert len(assignments(first_out)) >= 2, "the first member saw the rebalances"
    for path in (first_out, second_out):
        violations = [fields for fields in read_record(path) if fields[0] == "V"]
        assert violations == [], f"offsets stored past unfinished work in {path.name}"
    assert committed(kafka_bootstrap, group, topic, PARTITIONS) == ends
