"""A chaos session: brokers for a plan of runs, runs in parallel where they cannot disturb each
other, results in plan order.

Scenarios that signal the broker run one after another on a broker of their own; the others
share a second broker, ``parallel`` runs at a time (each has its own topic, group and
processes). Threads: the caller's thread starts and removes the brokers; runs execute on a
``ThreadPoolExecutor`` (one thread per run in progress), each driving its own processes.

A run whose harness fails (an exception in its setup, drain or check) comes back as a failed
:class:`~chaos.runner.RunResult` with its ``harness_errors``; the other runs go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from chaos.cluster import Broker
from chaos.runner import RunResult, Scenario, run_scenario
from parafka.broker import LocalBroker

__all__ = ["PREFIX", "Plan", "reap_orphans", "run_session"]

PREFIX = "chaos-"
Plan = Sequence[tuple[Scenario, int, float]]  # (scenario, seed, fault seconds)


def reap_orphans() -> None:
    """Remove chaos brokers whose session process is gone (a killed earlier session)."""
    for info in LocalBroker.all():
        owner = info.name.removeprefix(PREFIX).split("-")[0]
        if not info.name.startswith(PREFIX) or not owner.isdigit():
            continue
        if not Path(f"/proc/{owner}").exists():
            LocalBroker(info.name).remove()


def run_session(
    plan: Plan,
    work: Path,
    *,
    parallel: int = 1,
    sample_every: float = 5.0,
    say: Callable[[str], None] = lambda _text: None,
) -> list[RunResult]:
    """Run ``plan`` (see the module docstring); brokers are removed at the end, also on error."""
    needs_faulty = any(s.broker_faults for s, _, _ in plan)
    needs_shared = any(not s.broker_faults for s, _, _ in plan)
    shared = Broker(f"{PREFIX}{os.getpid()}-shared")
    faulty = Broker(f"{PREFIX}{os.getpid()}-faulty")
    try:
        with ThreadPoolExecutor(2, thread_name_prefix="chaos-broker") as starter:
            started = [
                starter.submit(broker.start)
                for broker, needed in ((shared, needs_shared), (faulty, needs_faulty))
                if needed
            ]
            for future in started:
                future.result()
        say("brokers started")

        def one(scenario: Scenario, seed: int, duration: float) -> RunResult:
            broker = faulty if scenario.broker_faults else shared
            began = time.monotonic()
            try:
                result = run_scenario(
                    scenario,
                    seed,
                    broker,
                    work / f"{scenario.name}-{seed}",
                    duration,
                    sample_every=sample_every,
                    on_progress=say,
                )
            except Exception as exc:  # run_scenario records its own; this is the last guard
                error = f"run: {type(exc).__name__}: {exc}"
                result = RunResult.crashed(scenario, seed, time.monotonic() - began, error)
            verdict = (
                "ok"
                if result.ok
                else "FAILED: "
                + "; ".join(
                    [f"harness error in {e}" for e in result.harness_errors]
                    + result.report.violations()
                    + result.problems
                )
            )
            say(f"{scenario.name} seed {seed}: {verdict} ({result.seconds:.0f} s)")
            return result

        futures: dict[int, Future[RunResult]] = {}
        with (
            ThreadPoolExecutor(max(1, parallel), thread_name_prefix="chaos-run") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="chaos-broker-run") as serial,
        ):
            for index, (scenario, seed, duration) in enumerate(plan):
                executor = serial if scenario.broker_faults else pool
                futures[index] = executor.submit(one, scenario, seed, duration)
        return [futures[index].result() for index in range(len(plan))]
    finally:
        for broker in (shared, faulty):
            broker.remove()
