"""The soak: one long run mixing every fault class, with memory sampled over time.

Three members with virtual partitions under cooperative-sticky, random exceptions, poison and
malformed messages with a DLQ; every 15-30 s one fault among member SIGKILL, member SIGTERM,
a join and leave, a hang at shutdown, broker SIGKILL or SIGSTOP. Member slot 0 is
never signalled, so its RSS (sampled every 10 s) shows whether memory grows.
"""

from __future__ import annotations

import signal
import time

from chaos.runner import Run, Scenario

__all__ = ["soak_scenario"]


def _member(run: Run) -> int:
    candidates = [m for m in run.alive_members() if m.slot != 0 and m.slot < 3]
    return run.random.randrange(len(candidates)) if candidates else -1


def _mixed(run: Run) -> None:
    # No broker SIGTERM: it can leave a member out of its group for good (librdkafka#5511, see
    # the README), which ends the memory measurement of the member it hits.
    kinds = ["kill", "term", "churn", "hang", "broker-kill", "broker-stop"]
    while run.time_left() > 40.0:
        run.wait(run.random.uniform(15.0, 30.0))
        kind = run.random.choice(kinds)
        start = time.monotonic_ns()
        if kind in ("kill", "term", "hang"):
            index = _member(run)
            if index < 0:
                continue
            member = [m for m in run.alive_members() if m.slot != 0 and m.slot < 3][index]
            if kind == "kill":
                member.kill()
            elif kind == "term":
                run.stop_member(member, expect=0)
            else:
                member.signal(signal.SIGUSR1)
                deadline = time.monotonic() + 10.0
                while not member.logged("H") and time.monotonic() < deadline:
                    time.sleep(0.1)
                start = time.monotonic_ns()
                run.stop_member(member, expect=2 if member.logged("H") else 0)
            member.start()
        elif kind == "churn":
            extra = run.add_member()
            run.wait(run.random.uniform(3.0, 8.0))
            run.stop_member(extra, expect=0)
        elif kind == "broker-stop":
            run.broker.signal(signal.SIGSTOP)
            try:
                time.sleep(run.random.uniform(7.0, 9.0))
            finally:
                run.broker.signal(signal.SIGCONT)
        else:
            sig = signal.SIGTERM if kind == "broker-term" else signal.SIGKILL
            run.broker.signal(sig)
            if not run.broker.wait_exit(45.0):
                run.problems.append(f"broker still ran 45 s after {sig.name}")
                run.broker.signal(signal.SIGKILL)
                run.broker.wait_exit(15.0)
            run.broker.restart()
        run.record(f"soak {kind}", start, time.monotonic_ns())


def soak_scenario() -> Scenario:
    return Scenario(
        "soak",
        "every fault, mixed",
        _mixed,
        protocol="cooperative",
        vp=4,
        members=3,
        env={"CHAOS_EXCEPTION_P": "0.01", "CHAOS_SHUTDOWN_TIMEOUT": "3"},
        poison_rate=0.002,
        malformed_rate=0.002,
        rate=300.0,
        broker_faults=True,
    )
