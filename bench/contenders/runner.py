"""Run a contender in a process of its own and read its :class:`Outcome`.

Runs on the benchmark's main thread. The contender's stderr goes to
``bench/results/logs/<workload>-<contender>.log`` so a failure can be read afterwards.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.contenders.common import RESULT_PREFIX, Outcome, Spec
from bench.contenders.venvs import ROOT, interpreter

__all__ = ["LOGS", "run_contender"]

LOGS = ROOT / "bench" / "results" / "logs"
#: Seconds a contender may take beyond its spec's timeout to report and stop.
GRACE = 60.0


def run_contender(spec: Spec, label: str) -> Outcome:
    """Start ``python -m bench.contenders <spec.contender>``, wait for its outcome line."""
    python = interpreter(spec.contender)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{label}-{spec.contender}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    command = [str(python), "-m", "bench.contenders", spec.contender, spec.to_json()]
    with log.open("w") as errors:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        try:
            out, _ = process.communicate(timeout=spec.timeout_s + GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
    for line in out.splitlines():
        if line.startswith(RESULT_PREFIX):
            return Outcome.from_json(line[len(RESULT_PREFIX) :])
    return _failed(spec, f"no result (exit status {process.returncode}); see {_rel(log)}")


def _failed(spec: Spec, error: str) -> Outcome:
    return Outcome(
        contender=spec.contender,
        finished=False,
        error=error,
        processed=0,
        seconds=0.0,
        throughput=0.0,
        began=0.0,
        partitions={},
        latency_ms=None,
        cpu_seconds=0.0,
        cpu_us_per_message=0.0,
        peak_rss_mb=0.0,
    )


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
