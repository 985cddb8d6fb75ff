"""Contenders run by a framework's own multi-process command: ``faststream run --workers 2``,
``parafka swarm --nodes 2``. The command is a supervisor that starts the processes that consume;
those report each message to this contender process (:mod:`bench.contenders.remote`).

Standard library only: this module runs inside each peer's own virtualenv.

:func:`supervise` runs on the contender's main thread: it starts the command with the collector's
environment (its output goes to this process's stderr, the contender's log), waits until the
recorder is done (and the outcome, with the CPU and memory of every process, is reported), then
stops the supervisor the way its documentation says, with SIGTERM, and
waits for it. An exit before the expected messages were processed, a non-zero exit status or a
supervisor that does not stop within ``grace`` seconds raises :class:`SupervisorFailed` (a run
that already reported its outcome still has it; the committed offsets, read afterwards, show
what an unclean stop cost). The supervisor and everything it starts stay in the contender's
process group, which the runner ends when the contender process is gone
(:func:`bench.contenders.runner.run_contender`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from bench.contenders.common import Recorder
from bench.contenders.remote import Collector

__all__ = ["SupervisorFailed", "supervise"]


class SupervisorFailed(RuntimeError):
    """The supervisor ended early, failed, or did not stop."""


def supervise(
    command: Sequence[str], recorder: Recorder, collector: Collector, grace: float = 60.0
) -> None:
    """Run ``command`` until ``recorder.done``; then SIGTERM it and wait up to ``grace`` s."""
    name = " ".join(command[1:4])
    env = {**os.environ, **collector.environment()}
    process = subprocess.Popen(
        list(command), env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr
    )
    try:
        while not recorder.done.wait(0.1):
            status = process.poll()
            if status is not None:
                raise SupervisorFailed(
                    f"{name} exited with status {status} before the expected messages were "
                    f"processed ({collector.reports:,} reports)"
                )
        recorder.reported.wait(30.0)  # the figures include these processes: taken first
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(grace)
        except subprocess.TimeoutExpired as exc:
            raise SupervisorFailed(f"{name} did not stop within {grace:.0f} s of SIGTERM") from exc
        print(f"{name} stopped with exit status {status}", file=sys.stderr, flush=True)
        if status != 0:
            raise SupervisorFailed(f"{name} stopped with exit status {status}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
