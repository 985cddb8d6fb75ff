"""The swarm's pure parts: the restart policy, the report lines, the node's reporter, and the
settings a swarm refuses."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import parafka
from parafka.swarm import RestartPolicy, Swarm
from parafka.swarm.node import Reporter
from parafka.swarm.reports import LineReader, encode
from parafka.swarm.supervisor import NodeContext

# -- RestartPolicy ----------------------------------------------------------------------------


@given(
    backoff=st.floats(0.0, 10.0),
    extra=st.floats(0.0, 100.0),
    max_restarts=st.integers(0, 10),
    failures=st.integers(0, 80),
)
def test_delays_double_up_to_the_cap_then_give_up(
    backoff: float, extra: float, max_restarts: int, failures: int
) -> None:
    policy = RestartPolicy(backoff=backoff, max_backoff=backoff + extra, max_restarts=max_restarts)
    delay = policy.delay(failures)
    if failures > max_restarts:
        assert delay is None
        return
    assert delay is not None
    assert 0.0 <= delay <= policy.max_backoff
    if 1 <= failures < max_restarts:
        following = policy.delay(failures + 1)
        assert following is not None
        assert following == min(2 * delay, policy.max_backoff) or backoff == 0.0


@given(failures=st.integers(0, 50), ran_for=st.floats(0.0, 1000.0))
def test_a_node_that_ran_long_enough_starts_a_new_count(failures: int, ran_for: float) -> None:
    policy = RestartPolicy(stable_after=60.0)
    after = policy.failures_after(failures, ran_for)
    assert after == (1 if ran_for >= 60.0 else failures + 1)


def test_a_crash_loop_ends_after_max_restarts_in_a_row() -> None:
    policy = RestartPolicy(backoff=1.0, max_backoff=30.0, max_restarts=3, stable_after=60.0)
    failures, delays = 0, []
    while True:
        failures = policy.failures_after(failures, ran_for=0.5)
        delay = policy.delay(failures)
        if delay is None:
            break
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"backoff": -1}, "backoff must be a number >= 0"),
        ({"backoff": 5.0, "max_backoff": 1.0}, "max_backoff (1.0) must be >= backoff (5.0)"),
        ({"max_restarts": -1}, "max_restarts must be an integer >= 0"),
        ({"max_restarts": 2.5}, "max_restarts must be an integer >= 0"),
        ({"stable_after": "soon"}, "stable_after must be a number >= 0"),
    ],
)
def test_bad_policy_settings_are_named(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as caught:
        RestartPolicy(**kwargs)
    assert words in str(caught.value)


# -- report lines ---------------------------------------------------------------------------


@given(cuts=st.lists(st.integers(0, 200), max_size=6))
def test_reports_survive_any_split_of_the_stream(cuts: list[int]) -> None:
    stream = (
        encode("report", ok=True)
        + encode("report", ok=False, reason="x")
        + encode("error", message="bad")
    )
    points = sorted({min(c, len(stream)) for c in cuts})
    reader = LineReader()
    got: list[dict[str, Any]] = []
    for start, end in zip([0, *points], [*points, len(stream)], strict=True):
        got.extend(reader.feed(stream[start:end]))
    assert got == [
        {"kind": "report", "ok": True},
        {"kind": "report", "ok": False, "reason": "x"},
        {"kind": "error", "message": "bad"},
    ]


def test_garbled_lines_are_kept_apart_never_raised() -> None:
    reader = LineReader()
    got = reader.feed(b'not json\n[1, 2]\n{"no": "kind"}\n' + encode("report", ok=True))
    assert [r["kind"] for r in got] == ["garbled", "garbled", "garbled", "report"]
    assert got[0]["line"] == "not json"


def test_an_endless_line_is_cut_off() -> None:
    reader = LineReader()
    got = reader.feed(b"x" * 70_000)
    assert [r["kind"] for r in got] == ["garbled"]
    assert reader.feed(encode("report", ok=True)) == [{"kind": "report", "ok": True}]


# -- the node's reporter ----------------------------------------------------------------------


class _FakeApp:
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        self.stop_requested = threading.Event()

    @property
    def stopping(self) -> bool:
        return self.stop_requested.is_set()

    def health(self, stall_after: float) -> str | None:
        return self.reason

    def request_stop(self) -> None:
        self.stop_requested.set()


def _context(fd: int, supervisor_pid: int) -> NodeContext:
    return NodeContext(
        index=0, nodes=1, supervisor_pid=supervisor_pid, report_fd=fd, report_interval=0.01
    )


def test_the_reporter_writes_health_to_the_pipe() -> None:
    read_fd, write_fd = os.pipe()
    app = _FakeApp(reason="parafka-listener-x has not polled for 70.0 s")
    reporter = Reporter(app, _context(write_fd, os.getppid()), stall_after=60.0)  # type: ignore[arg-type]
    reporter.start()
    reader = LineReader()
    reports: list[dict[str, Any]] = []
    while len(reports) < 3:
        reports.extend(reader.feed(os.read(read_fd, 4096)))
    reporter.finish()
    reporter.join(5)
    os.close(read_fd)
    os.close(write_fd)
    assert reports[0] == {
        "kind": "report",
        "ok": False,
        "reason": "parafka-listener-x has not polled for 70.0 s",
    }
    assert not app.stop_requested.is_set()


def test_a_node_whose_supervisor_is_gone_stops() -> None:
    read_fd, write_fd = os.pipe()
    app = _FakeApp()
    not_my_parent = os.getpid()  # this process is not its own parent: as if re-parented
    Reporter(app, _context(write_fd, not_my_parent), stall_after=60.0).run()  # type: ignore[arg-type]
    assert app.stop_requested.is_set()
    os.close(read_fd)
    os.close(write_fd)


def test_a_node_whose_pipe_is_closed_stops() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # the supervisor's end is gone: the write fails (EPIPE)
    app = _FakeApp()
    Reporter(app, _context(write_fd, os.getppid()), stall_after=60.0).run()  # type: ignore[arg-type]
    assert app.stop_requested.is_set()
    os.close(write_fd)


# -- Swarm settings ---------------------------------------------------------------------------


class _Orders(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def _app() -> parafka.App:
    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"}, log_events=False)
    app.topic("orders", _Orders)
    return app


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"nodes": 0}, "nodes must be an integer >= 1, got 0"),
        ({"nodes": "2"}, "nodes must be an integer >= 1, got '2'"),
        ({"node_report_interval": 0}, "node_report_interval must be a number of seconds > 0"),
        ({"node_report_timeout": -1}, "node_report_timeout must be a number of seconds > 0"),
        (
            {"node_report_interval": 5, "node_report_timeout": 5},
            "node_report_timeout (5 s) must be longer than node_report_interval (5 s)",
        ),
        ({"max_restarts": -2}, "max_restarts must be an integer >= 0"),
    ],
)
def test_bad_swarm_settings_are_named(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(parafka.ConfigurationError) as caught:
        Swarm(_app(), **kwargs)
    assert words in str(caught.value)


def test_a_swarm_refuses_an_app_without_routes() -> None:
    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"}, log_events=False)
    with pytest.raises(parafka.ConfigurationError, match="no topics are routed"):
        Swarm(app, nodes=1)


def test_a_swarm_defaults_to_one_node_per_usable_cpu() -> None:
    assert Swarm(_app()).nodes == len(os.sched_getaffinity(0))


def test_static_member_ids_are_derived_from_the_node_index() -> None:
    app = parafka.App(
        kafka={"bootstrap.servers": "127.0.0.1:9", "group.instance.id": "shop-a"},
        log_events=False,
    )
    app.topic("orders", _Orders)
    swarm = Swarm(app, nodes=2)
    assert swarm._node_info(1) == {"instance_ids": ["shop-a-1"]}
    assert Swarm(_app(), nodes=1)._node_info(0) == {}


def test_an_app_that_is_not_running_is_not_healthy() -> None:
    assert _app().health() == "the app is new"


def test_threads_in_the_supervisor_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from parafka.swarm.swarm import _warn_about_threads

    stop = threading.Event()
    extra = threading.Thread(target=stop.wait, name="made-at-import")
    extra.start()
    try:
        with caplog.at_level("WARNING", logger="parafka"):
            _warn_about_threads()
    finally:
        stop.set()
        extra.join()
    assert "made-at-import" in caplog.text
    assert "a Kafka client made before the fork does not work in the nodes" in caplog.text


def test_a_stopping_node_reports_healthy_while_its_own_shutdown_runs() -> None:
    read_fd, write_fd = os.pipe()
    app = _FakeApp(reason="parafka-listener-x has ended")
    app.stop_requested.set()
    reporter = Reporter(app, _context(write_fd, os.getppid()), stall_after=60.0)  # type: ignore[arg-type]
    reporter.start()
    first = LineReader().feed(os.read(read_fd, 4096))[0]
    reporter.finish()
    reporter.join(5)
    os.close(read_fd)
    os.close(write_fd)
    assert first == {"kind": "report", "ok": True, "reason": None}


def test_each_connection_of_each_node_has_its_own_static_id() -> None:
    app = parafka.App(
        kafka={"bootstrap.servers": "127.0.0.1:9", "group.instance.id": "shop-a"},
        log_events=False,
    )
    app.topic("orders", _Orders)
    app.topic("clicks", _Orders, subscription_group="fast")  # a second connection of the group
    app.consumer_group("audit").topic("orders", _Orders)
    assert Swarm(app, nodes=2)._node_info(1) == {
        "instance_ids": ["shop-a-1", "shop-a-2-1", "shop-a-1"]
    }
    assert [i for _g, _s, i in app._connections()] == ["shop-a", "shop-a-2", "shop-a"]
