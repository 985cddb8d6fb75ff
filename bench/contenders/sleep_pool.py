"""The IO ceiling without Kafka: ``concurrency`` threads that only pay the messages' costs.

The threads share a counter of the expected messages (per partition, as the spec lists them)
and each takes the next one until none is left. No broker is contacted.
"""

from __future__ import annotations

import threading

from bench.contenders.common import Recorder, Spec

# Literals: bench.contenders.catalog reads these with ast.literal_eval, without importing.
LABEL = "sleep-only pool (no Kafka)"
IN_PROCESS_PARALLELISM = True
KEY_ORDER = False  # the threads take the next message of any partition
PER_KEY_PARALLELISM = True
AT_LEAST_ONCE = False  # nothing is consumed or committed


def run(spec: Spec, recorder: Recorder) -> None:
    work = [p for p, n in sorted(spec.expected.items()) for _ in range(n)]
    lock = threading.Lock()
    position = 0

    def take() -> int | None:
        nonlocal position
        with lock:
            if position >= len(work):
                return None
            position += 1
            return work[position - 1]

    def worker() -> None:
        while (partition := take()) is not None:
            recorder.process(partition, None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
