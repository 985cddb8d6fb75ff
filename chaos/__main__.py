"""``python -m chaos`` (``make chaos``): run fault scenarios against a dedicated local broker.

    python -m chaos --seed 7 --faults member-kill,poison --duration 20
    python -m chaos --soak 30            # one long run mixing every fault, RSS sampled

Starts its own broker (``chaos-<pid>``; brokers left by killed runs are removed first), runs
each scenario ``--runs`` times with seeds ``seed, seed+1, ...``, prints a table, writes
``chaos/results/chaos-<UTC stamp>.json`` (plus each run's ledger and logs under
``chaos/results/<stamp>/``) and removes the broker at the end, also on errors and Ctrl-C.
Exit status 1 if any run broke a guarantee.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from chaos.cluster import Broker
from chaos.faults import SCENARIOS, by_name
from chaos.report import rss_growth, summarize, table
from chaos.runner import RunResult, run_scenario
from chaos.soak import soak_scenario
from parafka.broker import LocalBroker

RESULTS = Path(__file__).resolve().parent / "results"
_PREFIX = "chaos-"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma-separated scenarios or 'all': {', '.join(s.name for s in SCENARIOS)}",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="fault seconds per run")
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario (seeds differ)")
    parser.add_argument(
        "--soak", type=float, default=0.0, help="minutes of one run mixing every fault"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def _reap_orphans() -> None:
    for info in LocalBroker.all():
        owner = info.name.removeprefix(_PREFIX)
        if (
            info.name.startswith(_PREFIX)
            and owner.isdigit()
            and not Path(f"/proc/{owner}").exists()
        ):
            LocalBroker(info.name).remove()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = options.out / stamp
    _reap_orphans()
    broker = Broker(f"{_PREFIX}{os.getpid()}")

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    results: list[RunResult] = []
    began = time.monotonic()
    try:
        print(f"chaos: starting broker {_PREFIX}{os.getpid()}", flush=True)
        broker.start()
        if options.soak:
            plan = [(soak_scenario(), options.seed, options.soak * 60.0)]
        else:
            plan = [
                (scenario, options.seed + run, options.duration)
                for scenario in by_name(options.faults)
                for run in range(options.runs)
            ]
        for scenario, seed, duration in plan:
            result = run_scenario(
                scenario,
                seed,
                broker,
                work / f"{scenario.name}-{seed}",
                duration,
                sample_every=10.0 if options.soak else 5.0,
                on_progress=lambda text: print(f"  {text}", flush=True),
            )
            results.append(result)
            verdict = (
                "ok"
                if result.ok
                else "FAILED: " + "; ".join(result.report.violations() + result.problems)
            )
            print(f"  {scenario.name} seed {seed}: {verdict}", flush=True)
    finally:
        broker.remove()
    rows = summarize(results)
    print(table(rows))
    growth = rss_growth(results) if options.soak else None
    if growth is not None:
        print(f"RSS of the long-lived member: {growth}")
    options.out.mkdir(parents=True, exist_ok=True)
    data = {
        "stamp": stamp,
        "command": " ".join(["python -m chaos", *(argv if argv is not None else sys.argv[1:])]),
        "seconds": round(time.monotonic() - began, 1),
        "rows": rows,
        "rss_growth": growth,
        "runs": [r.to_dict() for r in results],
    }
    path = options.out / f"chaos-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"results: {path}")
    failed = [r for r in results if not r.ok] or (growth and not growth["ok"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
