"""The out-of-group watch: which librdkafka group states count, and the ``cgrp`` extraction."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from parafka.connection.membership import GroupWatch, default_rejoin_timeout, group_state

STATES = ["init", "term", "query-coord", "wait-coord", "wait-broker", "wait-broker-transport", "up"]
JOIN_STATES = [
    "init",
    "wait-join",
    "wait-metadata",
    "wait-sync",
    "wait-assign-call",
    "wait-unassign-call",
    "wait-unassign-to-complete",
    "wait-incr-unassign-to-complete",
    "steady",
]


def test_up_but_not_steady_for_the_limit_is_stuck() -> None:
    watch = GroupWatch(limit=30.0)
    watch.observe(100.0, {"state": "up", "join_state": "wait-join"})
    assert not watch.stuck(129.9)
    watch.observe(120.0, {"state": "up", "join_state": "wait-unassign-to-complete"})
    assert watch.stuck(130.0)
    assert "'wait-unassign-to-complete' for 30.0 s" in watch.describe(130.0)


def test_steady_or_no_coordinator_restarts_the_count() -> None:
    watch = GroupWatch(limit=30.0)
    watch.observe(0.0, {"state": "up", "join_state": "wait-join"})
    watch.observe(20.0, {"state": "up", "join_state": "steady"})
    watch.observe(25.0, {"state": "up", "join_state": "wait-join"})
    assert not watch.stuck(50.0)
    assert watch.stuck(55.0)
    # A broker outage (no coordinator) never counts, however long.
    watch.observe(56.0, {"state": "wait-coord", "join_state": "wait-join"})
    assert not watch.stuck(10_000.0)
    watch.observe(57.0, {"state": "up", "join_state": "init"})
    watch.reset()
    assert not watch.stuck(10_000.0)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=5.0),
            st.sampled_from(STATES),
            st.sampled_from(JOIN_STATES),
        ),
        max_size=40,
    ),
    st.floats(min_value=0.1, max_value=60.0),
)
def test_stuck_means_an_unbroken_up_and_unsteady_stretch_of_the_limit(
    reports: list[tuple[float, str, str]], limit: float
) -> None:
    watch = GroupWatch(limit=limit)
    now = 0.0
    stretch_start: float | None = None
    for step, state, join in reports:
        now += step
        watch.observe(now, {"state": state, "join_state": join})
        if state == "up" and join != "steady":
            stretch_start = now if stretch_start is None else stretch_start
        else:
            stretch_start = None
        assert watch.stuck(now) == (stretch_start is not None and now - stretch_start >= limit)


def test_group_state_cuts_cgrp_out_of_a_report() -> None:
    group = {"state": "up", "stateage": 12, "join_state": "steady", "assignment_size": 3}
    report = {
        "name": "rdkafka#consumer-1",
        "brokers": {"b": {"state": "UP", "toppars": {"t-0": {"partition": 0}}}},
        "topics": {"t": {"partitions": {"0": {"fetch_state": "active"}}}},
        "cgrp": group,
        "eos": {"idemp_state": "Init"},
    }
    assert group_state(json.dumps(report)) == group
    assert group_state(json.dumps({"name": "producer"})) is None
    assert group_state("not json") is None


def test_group_state_falls_back_to_the_whole_report() -> None:
    # A "}" inside a string value of cgrp defeats the cut; the whole report still parses.
    group = {"state": "up", "join_state": "steady", "rebalance_reason": "odd } reason"}
    assert group_state(json.dumps({"cgrp": group})) == group


def test_default_rejoin_timeout_outlasts_a_rebalance() -> None:
    assert default_rejoin_timeout({}) == 355.0
    config = {"max.poll.interval.ms": "10000", "session.timeout.ms": 6000}
    assert default_rejoin_timeout(config) == 26.0
    assert default_rejoin_timeout({"max.poll.interval.ms": "ten"}) == 355.0
