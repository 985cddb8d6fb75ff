"""Choosing which routes a process runs: ``--include-consumer-groups`` and the like.

One deployment can run different consumer groups (or topics) in different processes:
``parafka server shop:app --include-consumer-groups audit`` in one, ``--exclude-consumer-groups
audit`` in another. Pure functions, called on the thread that configures the app.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from parafka.errors import ConfigurationError
from parafka.routing import Route

__all__ = ["select_routes", "split_names"]


def split_names(values: Sequence[str]) -> tuple[str, ...]:
    """``("a,b", "c")`` -> ``("a", "b", "c")``: an option given several times or with commas."""
    names = [name.strip() for value in values for name in value.split(",")]
    return tuple(name for name in names if name)


def _check_known(names: Collection[str], known: Sequence[str], what: str, option: str) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        listed = ", ".join(repr(name) for name in dict.fromkeys(known))
        raise ConfigurationError(
            f"{option}: the app routes no {what} {', '.join(map(repr, unknown))} "
            f"(its {what}s: {listed})"
        )


def select_routes(
    routes: Sequence[Route],
    *,
    include_groups: Collection[str] = (),
    exclude_groups: Collection[str] = (),
    include_topics: Collection[str] = (),
    exclude_topics: Collection[str] = (),
) -> list[Route]:
    """The routes kept: in an included group (every group when none is included) and not in
    an excluded one, on an included topic (every topic when none is) and not an excluded one.

    Topics are matched by the name the route was given (a pattern route by its ``^...``
    pattern). A name the app does not route raises :class:`ConfigurationError` (a typo would
    otherwise run nothing, or everything), as does a selection that leaves no route.
    """
    groups = [route.group_id for route in routes]
    topics = [route.topic for route in routes]
    _check_known(include_groups, groups, "consumer group", "--include-consumer-groups")
    _check_known(exclude_groups, groups, "consumer group", "--exclude-consumer-groups")
    _check_known(include_topics, topics, "topic", "--include-topics")
    _check_known(exclude_topics, topics, "topic", "--exclude-topics")
    kept = [
        route
        for route in routes
        if (not include_groups or route.group_id in include_groups)
        and route.group_id not in exclude_groups
        and (not include_topics or route.topic in include_topics)
        and route.topic not in exclude_topics
    ]
    if not kept:
        raise ConfigurationError(
            "the consumer group and topic selection leaves nothing to run "
            f"(the app routes: {', '.join(f'{r.group_id}/{r.topic}' for r in routes)})"
        )
    return kept
