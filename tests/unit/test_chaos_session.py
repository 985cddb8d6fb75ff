"""A chaos session survives one run's harness error: that run fails (table ``ERROR``, JSON
``harness_errors``), the others keep their verdicts, and ``python -m chaos`` exits 1.

Brokers and runs are faked here (no process is started); the CI chaos run shows the same with a
real broker (``tests/integration/test_chaos.py``)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import chaos.__main__ as chaos_main
import chaos.session as session
import pytest
from chaos.checker import Report
from chaos.faults import quiet
from chaos.report import summarize, table
from chaos.runner import RunResult, Scenario


class FakeBroker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.bootstrap = "127.0.0.1:1"

    def start(self) -> None:
        pass

    def remove(self) -> None:
        pass


SCENARIOS = [
    Scenario("first", "fine", quiet),
    Scenario("broken", "its drain raises", quiet),
    Scenario("last", "fine", quiet, broker_faults=True),
]


def fake_run(scenario: Scenario, seed: int, *_args: object, **_kwargs: object) -> RunResult:
    if scenario.name == "broken":
        raise RuntimeError("end offsets unavailable")
    return RunResult(
        scenario=scenario.name,
        fault=scenario.fault,
        seed=seed,
        protocol=scenario.protocol,
        vp=0,
        seconds=1.0,
        report=Report(acked=10, finished=10, processed_lines=12, duplicates=2),
        faults=[],
        problems=[],
        producer={},
        rss=[],
    )


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(session, "Broker", FakeBroker)
    monkeypatch.setattr(session, "run_scenario", fake_run)
    monkeypatch.setattr(chaos_main, "reap_orphans", lambda: None)
    monkeypatch.setattr(chaos_main, "by_name", lambda _names: list(SCENARIOS))
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_one_runs_harness_error_fails_that_run_only(tmp_path: Path) -> None:
    plan = [(scenario, 3, 1.0) for scenario in SCENARIOS]
    results = session.run_session(plan, tmp_path, parallel=2)
    assert [r.scenario for r in results] == ["first", "broken", "last"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].harness_errors == ["run: RuntimeError: end offsets unavailable"]
    lines = table(summarize(results)).splitlines()
    verdicts = {line.split()[0]: line.split()[-1] for line in lines[1:]}
    assert verdicts == {"first": "ok", "broken": "ERROR", "last": "ok"}
    assert "dup %" in lines[0]
    assert "20.00 %" in lines[1]  # 2 duplicates of 10 messages


def test_python_m_chaos_exits_1_and_writes_every_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert chaos_main.main(["--faults", "all", "--out", str(tmp_path), "--duration", "1"]) == 1
    written = json.loads(next(tmp_path.glob("chaos-*.json")).read_text())
    rows = {row["scenario"]: row for row in written["rows"]}
    assert [rows[name]["ok"] for name in ("first", "broken", "last")] == [True, False, True]
    assert rows["first"]["duplicates_share"] == 0.2
    assert rows["broken"]["harness_errors"] == [
        "seed 1: run: RuntimeError: end offsets unavailable"
    ]
    runs = {run["scenario"]: run for run in written["runs"]}
    assert runs["broken"]["harness_errors"]
    assert not runs["broken"]["ok"]
    assert "harness error in broken" in capsys.readouterr().out
