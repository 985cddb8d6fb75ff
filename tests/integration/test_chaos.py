"""Chaos: a short seeded run of every fault class against real brokers of its own (never the
session broker), checked for lost messages, order, commits ahead and final offsets.

The runs execute once for the module (``chaos.session``: broker faults one after another on
their broker, the other classes three at a time on a second broker); each fault class is then
its own test, so a failure names the class and shows the checker's examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaos.faults import SCENARIOS
from chaos.runner import RunResult
from chaos.session import reap_orphans, run_session

pytestmark = pytest.mark.integration

SEED = 20261127
#: Seconds of faults per class: enough for one or two faults of each (a run lasts about this
#: plus the fault's own length, the drain and the stop).
DURATION = 9.0
CI_SCENARIOS = [scenario for scenario in SCENARIOS if scenario.ci]


@pytest.fixture(scope="module")
def chaos_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    reap_orphans()
    work: Path = tmp_path_factory.mktemp("chaos")
    plan = [(scenario, SEED, DURATION) for scenario in CI_SCENARIOS]
    results = run_session(plan, work, parallel=3)
    return {result.scenario: result for result in results}


@pytest.mark.parametrize("name", [scenario.name for scenario in CI_SCENARIOS])
def test_fault_class_keeps_every_guarantee(chaos_runs: dict[str, RunResult], name: str) -> None:
    result = chaos_runs[name]
    report = result.report
    evidence = json.dumps(
        {"examples": report.examples, "problems": result.problems, "faults": len(result.faults)},
        indent=1,
    )
    assert report.acked > 500, evidence
    assert report.lost == 0, evidence
    assert report.order_violations == 0, evidence
    assert report.commits_ahead == 0, evidence
    assert report.commits_checked > 0, evidence
    assert report.final_mismatches == {}, evidence
    assert report.good_dead_lettered == 0, evidence
    assert result.problems == [], evidence
    scenario = next(s for s in SCENARIOS if s.name == name)
    if scenario.inject.__name__ != "quiet":
        assert result.faults, f"no fault was injected: {evidence}"
    for tag, variable in (("X", "CHAOS_EXCEPTION_P"), ("W", "CHAOS_SLOW_P")):
        if variable in scenario.env:  # the misbehaviour happened, so the run proves something
            assert report.injected.get(tag, 0) > 0, evidence
    if scenario.inject.__name__ == "hang_at_shutdown":
        assert report.injected.get("H", 0) > 0, evidence
    if scenario.dead_letters:
        assert report.expected_dead_letters > 0, evidence
        assert report.dead_lettered >= report.expected_dead_letters, evidence
