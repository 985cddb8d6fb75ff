"""Which routes a process runs: ``--include-consumer-groups`` and the like, for ``parafka
server`` and ``parafka swarm``, and ``App.restrict``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import parafka
from parafka.selection import select_routes, split_names

from .test_cli_loading import Write, module, one_line_error, run  # noqa: F401 (fixture)


class _C(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        pass


def _app() -> parafka.App:
    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"}, group_id="shop", log_events=False)
    app.topic("orders", _C)
    app.topic("clicks", _C)
    app.consumer_group("audit").topic("orders", _C)
    return app


def _kept(app: parafka.App) -> list[tuple[str, str]]:
    return [(route.group_id, route.topic) for route in app.routes]


def test_include_and_exclude_groups_and_topics() -> None:
    routes = _app().routes
    pairs = lambda kept: [(r.group_id, r.topic) for r in kept]  # noqa: E731
    assert pairs(select_routes(routes, include_groups={"audit"})) == [("audit", "orders")]
    assert pairs(select_routes(routes, exclude_groups={"audit"})) == [
        ("shop", "orders"),
        ("shop", "clicks"),
    ]
    assert pairs(select_routes(routes, include_topics={"orders"})) == [
        ("shop", "orders"),
        ("audit", "orders"),
    ]
    assert pairs(select_routes(routes, include_groups={"shop"}, exclude_topics={"orders"})) == [
        ("shop", "clicks")
    ]


group_names = st.sets(st.sampled_from(["shop", "audit"]))
topic_names = st.sets(st.sampled_from(["orders", "clicks"]))


@given(ig=group_names, eg=group_names, it=topic_names, et=topic_names)
def test_selection_matches_its_definition(
    ig: set[str], eg: set[str], it: set[str], et: set[str]
) -> None:
    routes = _app().routes
    expected = [
        r
        for r in routes
        if (not ig or r.group_id in ig)
        and r.group_id not in eg
        and (not it or r.topic in it)
        and r.topic not in et
    ]
    if not expected:
        with pytest.raises(parafka.ConfigurationError, match="leaves nothing to run"):
            select_routes(
                routes, include_groups=ig, exclude_groups=eg, include_topics=it, exclude_topics=et
            )
    else:
        assert (
            select_routes(
                routes, include_groups=ig, exclude_groups=eg, include_topics=it, exclude_topics=et
            )
            == expected
        )


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(parafka.ConfigurationError) as caught:
        select_routes(_app().routes, exclude_groups={"shpo"})
    assert str(caught.value) == (
        "--exclude-consumer-groups: the app routes no consumer group 'shpo' "
        "(its consumer groups: 'shop', 'audit')"
    )


def test_restrict_keeps_the_routes_and_refuses_after_start() -> None:
    app = _app()
    app.restrict(include_topics=["clicks"])
    assert _kept(app) == [("shop", "clicks")]
    assert [g.group_id for g in app.subscription_groups()] == ["shop"]
    app._state = "running"
    with pytest.raises(parafka.ConfigurationError, match="only before the app starts"):
        app.restrict(include_topics=["clicks"])


def test_split_names() -> None:
    assert split_names(("a,b", " c ", "", "d,,")) == ("a", "b", "c", "d")


APP = """
import parafka

class C(parafka.Consumer):
    def consume(self, messages):
        pass

app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"}, group_id="shop")
app.topic("orders", C)
app.consumer_group("audit").topic("orders", C)
"""


@pytest.mark.parametrize("command", ["server", "swarm"])
def test_the_cli_names_an_unknown_group(module: Write, command: str) -> None:  # noqa: F811
    name = module(APP)
    line = one_line_error(run(command, f"{name}:app", "--include-consumer-groups", "shop,adit"))
    assert line == (
        "error: --include-consumer-groups: the app routes no consumer group 'adit' "
        "(its consumer groups: 'shop', 'audit')"
    )


@pytest.mark.parametrize("command", ["server", "swarm"])
def test_the_cli_refuses_a_selection_that_leaves_nothing(module: Write, command: str) -> None:  # noqa: F811
    name = module(APP)
    line = one_line_error(
        run(
            command,
            f"{name}:app",
            "--exclude-consumer-groups",
            "shop",
            "--exclude-topics",
            "orders",
        )
    )
    assert "leaves nothing to run" in line


def test_swarm_names_a_bad_report_timeout(module: Write) -> None:  # noqa: F811
    name = module(APP)
    line = one_line_error(
        run("swarm", f"{name}:app", "--node-report-interval", "10", "--node-report-timeout", "5")
    )
    assert line == (
        "error: node_report_timeout (5 s) must be longer than node_report_interval (10 s), "
        "or every node would look hung"
    )


def test_swarm_refuses_zero_nodes(module: Write) -> None:  # noqa: F811
    name = module(APP)
    result = run("swarm", f"{name}:app", "--nodes", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--nodes': 0 is not in the range x>=1" in result.stderr
