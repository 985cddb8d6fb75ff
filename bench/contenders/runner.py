"""Run a contender in a process of its own and read its :class:`Outcome`.

Runs on the benchmark's main thread. The contender's stderr goes to
``bench/results/logs/<workload>-<contender>.log`` so a failure can be read afterwards.

Each contender runs in a process group (a session) of its own, with every process it starts
(a pool, ``faststream run --workers``, ``parafka swarm``): when the contender process is gone,
whether it ended, timed out or the benchmark was interrupted, whatever is left of its group is
killed, so that no worker keeps consuming CPU through the runs that follow.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from bench.contenders.common import FIRST_MARKER, RESULT_PREFIX, Outcome, Spec
from bench.contenders.venvs import ROOT, interpreter

__all__ = ["LOGS", "run_contender"]

LOGS = ROOT / "bench" / "results" / "logs"
#: Seconds a contender may take beyond its spec's timeout to report and stop.
GRACE = 60.0


def run_contender(spec: Spec, label: str, on_first: Callable[[], None] | None = None) -> Outcome:
    """Start ``python -m bench.contenders <spec.contender>``, wait for its outcome line.

    ``on_first`` is called (on a reader thread) as soon as the contender reports its first
    processed message.
    """
    python = interpreter(spec.contender)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{label}-{spec.contender}.log"
    # The checkout's own src/ first: parafka's interpreter may be a virtualenv whose editable
    # install points at another checkout (a git worktree sharing the main .venv), and the
    # contender must run the parafka this suite was started with.
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
    command = [str(python), "-m", "bench.contenders", spec.contender, spec.to_json()]
    lines: list[str] = []
    with log.open("w") as errors:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                if line.startswith(FIRST_MARKER):
                    if on_first is not None:
                        on_first()
                else:
                    lines.append(line)

        reader = threading.Thread(target=read, name="bench-contender-stdout", daemon=True)
        reader.start()
        try:
            process.wait(timeout=spec.timeout_s + GRACE)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _end_group(process)
        reader.join(10.0)
        stdout.close()
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            return Outcome.from_json(line[len(RESULT_PREFIX) :])
    return Outcome.empty(
        spec.contender, error=f"no result (exit status {process.returncode}); see {_rel(log)}"
    )


def _end_group(process: subprocess.Popen[str]) -> None:
    """Kill what is left of the contender's process group, then reap the contender."""
    with contextlib.suppress(ProcessLookupError):  # gone already: nothing left to kill
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
