"""``python -m bench.contenders <name> <spec JSON>``: run one contender, print its outcome.

The main thread imports ``bench.contenders.<name>`` and calls its ``run(spec, recorder)``, which
consumes until ``recorder.done`` is set, shuts its framework down and returns. A watchdog thread
prints the outcome the moment the expected messages are done (so CPU time stops there, not after
the framework's shutdown), or a failed outcome when ``spec.timeout_s`` passes, and ends the
process if the framework does not stop within :data:`SHUTDOWN_GRACE` seconds. A ``run`` that
raises :class:`~bench.contenders.common.Unsupported` is reported with ``Outcome.unsupported`` set
to its reason (not finished, no error).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import traceback

from bench.contenders.common import RESULT_PREFIX, Recorder, Spec, Unsupported, Usage

SHUTDOWN_GRACE = 30.0


def _emit(line: str) -> None:
    sys.stdout.write(RESULT_PREFIX + line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.contenders <name> <spec JSON>", file=sys.stderr)
        return 2
    name, text = argv
    spec = Spec.from_json(text)
    module = importlib.import_module(f"bench.contenders.{name}")
    recorder = Recorder(spec)
    usage = Usage()
    reported = recorder.reported
    returned = threading.Event()

    def watchdog() -> None:
        deadline = time.monotonic() + spec.timeout_s
        while not (finished := recorder.done.wait(0.05)):
            if returned.is_set() or time.monotonic() > deadline:
                break
        usage.stop()
        if finished:
            error = None
        elif returned.is_set():
            error = "run() returned before the expected messages were processed"
        else:
            error = f"timed out after {spec.timeout_s:.0f} s"
        _emit(recorder.outcome(usage, finished, error).to_json())
        reported.set()
        if not returned.wait(SHUTDOWN_GRACE):
            print(f"{name} did not stop within {SHUTDOWN_GRACE:.0f} s", file=sys.stderr)
            os._exit(0 if finished else 3)

    threading.Thread(target=watchdog, name="bench-watchdog", daemon=True).start()
    try:
        module.run(spec, recorder)
    except Unsupported as exc:
        if not reported.is_set():
            usage.stop()
            reason = str(exc) or type(exc).__name__
            _emit(recorder.outcome(usage, False, None, unsupported=reason).to_json())
        sys.stdout.flush()
        os._exit(0)
    except BaseException as exc:
        traceback.print_exc()
        if not reported.is_set():
            usage.stop()
            _emit(recorder.outcome(usage, False, f"{type(exc).__name__}: {exc}").to_json())
        sys.stdout.flush()
        os._exit(1)
    returned.set()
    reported.wait(SHUTDOWN_GRACE)
    sys.stdout.flush()
    os._exit(0)  # frameworks may leave non-daemon threads behind


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
