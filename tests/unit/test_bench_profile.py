"""bench.profile --cpu: a CPU profile of the parafka threads, per role, per message."""

from __future__ import annotations

import threading

from bench.profile import CpuProfile


def _work(rounds: int) -> int:
    total = 0
    for i in range(rounds):
        total += i * i
    return total


def _spin(rounds: int, done: threading.Event, release: threading.Event) -> None:
    # yappi counts a call when it returns: the work returns before the profile stops.
    _work(rounds)
    done.set()
    release.wait()  # alive (and named) when the profile stops, as the app's threads are


def test_the_cpu_profile_reports_a_worker_threads_functions_per_message() -> None:
    profile = CpuProfile()
    profile.start()
    release = threading.Event()
    threads, finished = [], []
    for name, rounds in (("parafka-worker-9", 200_000), ("someone-else", 10)):
        done = threading.Event()
        thread = threading.Thread(target=_spin, args=(rounds, done, release), name=name)
        thread.start()
        threads.append(thread)
        finished.append(done)
    for done in finished:
        assert done.wait(30)
    profile.stop()
    release.set()
    for thread in threads:
        thread.join()
    profile.processed = 1_000
    report = profile.report()
    lines = report.splitlines()
    header = next(line for line in lines if line.startswith("== parafka-worker"))
    assert float(header.split(": ")[1].split()[0]) > 0  # CPU per message of the role
    spin = next(line for line in lines if line.endswith(":_work"))
    own, total = (float(field) for field in spin.split()[:2])
    assert 0 < own <= total
    assert "someone-else" not in report
    assert "== parafka-listener" not in report
