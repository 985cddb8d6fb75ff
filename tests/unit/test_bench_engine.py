"""bench.engine drives the real coordinator to the end of its messages and times it."""

from __future__ import annotations

import pytest
from bench import engine


@pytest.mark.parametrize(("lanes", "max_messages"), [(1, 10), (1, 500), (25, 10)])
def test_every_message_is_processed_and_committed(lanes: int, max_messages: int) -> None:
    cost = engine.measure(max_messages, lanes, fetches=3, repeats=1)
    assert cost.messages == 3 * engine.FETCH
    if lanes == 1:  # one lane: full batches in offset order
        assert cost.batches == 3 * engine.FETCH // max_messages
    else:  # lanes take partial batches of their keys
        assert cost.batches >= 3 * engine.FETCH // max_messages
    assert cost.per_message > 0
    assert cost.per_batch == pytest.approx(cost.per_message * cost.messages / cost.batches)


def test_the_report_lists_both_layouts(capsys: pytest.CaptureFixture[str]) -> None:
    engine.main(["--fetches", "2", "--repeats", "1", "--bare-us", "1.0"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(row[0], row[1]) for row in rows] == [
        (m, lanes) for lanes in ("1", "25") for m in ("10", "100", "500")
    ]
    for row in rows:  # the bound is bare / (bare + engine) with bare = 1.0
        assert float(row[4]) == pytest.approx(
            1.0 / (1.0 + float(row[3])), abs=0.011
        )  # both rounded
