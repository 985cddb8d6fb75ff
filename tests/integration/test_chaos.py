"""Chaos: a short seeded run of every fault class against real brokers of its own (never the
session broker), checked for lost messages, order, commits ahead and final offsets.

The runs execute once for the module (``chaos.session``: broker faults one after another on
their broker, the other classes three at a time on a second broker); each fault class is then
its own test, so a failure names the class and shows the checker's examples. One more run,
whose fault loop raises, shows that a harness error fails that run only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaos.faults import SCENARIOS
from chaos.runner import Run, RunResult, Scenario
from chaos.session import reap_orphans, run_session

pytestmark = pytest.mark.integration

SEED = 20261127
#: Seconds of faults per class: enough for one or two faults of each (a run lasts about this
#: plus the fault's own length, the drain and the stop).
DURATION = 9.0
CI_SCENARIOS = [scenario for scenario in SCENARIOS if scenario.ci]


def _broken_fault_loop(run: Run) -> None:
    run.wait(2.0)
    raise RuntimeError("the fault loop broke")


BROKEN = Scenario("harness-error", "a fault loop that raises", _broken_fault_loop, members=1)


@pytest.fixture(scope="module")
def chaos_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    reap_orphans()
    work: Path = tmp_path_factory.mktemp("chaos")
    plan = [(scenario, SEED, DURATION) for scenario in [*CI_SCENARIOS, BROKEN]]
    results = run_session(plan, work, parallel=3)
    return {result.scenario: result for result in results}


@pytest.mark.parametrize("name", [scenario.name for scenario in CI_SCENARIOS])
def test_fault_class_keeps_every_guarantee(chaos_runs: dict[str, RunResult], name: str) -> None:
    result = chaos_runs[name]
    report = result.report
    evidence = json.dumps(
        {
            "examples": report.examples,
            "problems": result.problems,
            "faults": len(result.faults),
            "nodes": result.nodes,
        },
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
    if scenario.feed == "transactional":  # aborted records left gaps, markers too
        assert report.aborted > 0, evidence
        assert result.producer["aborted_transactions"] > 0, evidence
    if scenario.feed == "compacted":  # the cleaner removed records: offsets have gaps
        assert result.producer["survivors"] < result.producer["written"], evidence
    for tag, variable in (("Z", "CHAOS_PAUSE_P"), ("K", "CHAOS_SEEK_P")):
        if variable in scenario.env:
            assert report.injected.get(tag, 0) > 0, evidence
    if scenario.inject.__name__ == "churn_during_slow_batch":
        assert report.injected.get("W", 0) > 0, evidence
    for effect in scenario.node_effects:  # a swarm's supervisor replaced each node signalled
        assert result.nodes.get(effect, 0) >= len(result.faults) > 0, evidence


def test_a_harness_error_fails_its_run_only(chaos_runs: dict[str, RunResult]) -> None:
    broken = chaos_runs[BROKEN.name]
    assert broken.harness_errors == ["faults: RuntimeError: the fault loop broke"]
    assert not broken.ok
    # It still drained and stopped its members: the error is the only thing wrong with it.
    assert broken.report.ok, broken.report.violations()
    assert broken.problems == []
    assert all(not r.harness_errors for name, r in chaos_runs.items() if name != BROKEN.name)
