"""``python -m chaos`` (``make chaos``): run fault scenarios against dedicated local brokers.

    python -m chaos --seed 7 --faults member-kill,poison --duration 20
    python -m chaos --soak 30            # one long run mixing every fault, RSS sampled

Starts its own brokers (``chaos-<pid>-shared`` for runs that leave the broker alone,
``chaos-<pid>-faulty`` for runs that signal it; brokers left by killed sessions are removed
first), runs each scenario ``--runs`` times with seeds ``seed, seed+1, ...`` (``--parallel``
runs at once on the shared broker), prints a table, writes
``chaos/results/chaos-<UTC stamp>.json`` (each run's ledger and logs under
``chaos/results/<stamp>/``) and removes the brokers at the end, also on errors and Ctrl-C.
Exit status 1 if any run broke a guarantee or its harness failed (the table says ``ERROR``; the
other runs keep their verdicts), or, for the soak, if memory grew.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from chaos.faults import SCENARIOS, by_name
from chaos.report import rss_growth, summarize, table
from chaos.session import reap_orphans, run_session
from chaos.soak import soak_scenario

RESULTS = Path(__file__).resolve().parent / "results"


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
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (shared broker)")
    parser.add_argument(
        "--soak", type=float, default=0.0, help="minutes of one run mixing every fault"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    began = time.monotonic()
    reap_orphans()
    if options.soak:
        plan = [(soak_scenario(), options.seed, options.soak * 60.0)]
    else:
        plan = [
            (scenario, options.seed + run, options.duration)
            for scenario in by_name(options.faults)
            for run in range(options.runs)
        ]
    results = run_session(
        plan,
        options.out / stamp,
        parallel=options.parallel,
        sample_every=10.0 if options.soak else 5.0,
        say=lambda text: print(f"  {text}", flush=True),
    )
    rows = summarize(results)
    print(table(rows))
    for row in rows:
        for error in row["harness_errors"]:
            print(f"harness error in {row['scenario']} {error}")
    growth = rss_growth(results) if options.soak else None
    if growth is not None:
        print(f"RSS of the long-lived member: {growth}")
    options.out.mkdir(parents=True, exist_ok=True)
    command = ["python -m chaos", *(argv if argv is not None else sys.argv[1:])]
    data = {
        "stamp": stamp,
        "command": " ".join(command),
        "seconds": round(time.monotonic() - began, 1),
        "rows": rows,
        "rss_growth": growth,
        "runs": [r.to_dict() for r in results],
    }
    path = options.out / f"chaos-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"results: {path}")
    failed = any(not r.ok for r in results) or (growth is not None and not growth["ok"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
