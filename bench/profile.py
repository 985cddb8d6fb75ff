"""Sampled stacks of a running parafka app: where its threads spend their time.

``python -m bench.profile --bootstrap HOST:PORT [--mode threads|async] [--partitions P]
[--lanes L] [--concurrency C] [--max-messages M] [--cost-ms 1] [--seconds 12] [--warmup 1]``

Fills a fresh topic (P partitions, 1,000 keys), runs one ``parafka.App`` on it, and samples
every thread's stack at ~200 Hz for ``--seconds`` once processing has started. Prints the
throughput, then per thread role (listener, worker, asyncio loop) the share of samples in
which each function was on the stack (inclusive) and at its top (self), the top 15 of each.

The sampler is a Python thread reading ``sys._current_frames()``: it takes the GIL like any
other thread, so it perturbs what it measures a little (about 1 % at 200 Hz); compare runs
made with it, not with unsampled runs. It can only look while it holds the GIL, so it sees
threads where they wait (``select``, a queue, ``poll``) more than where they compute: for
where the CPU goes, ``--cpu`` uses yappi instead (deterministic, CPU clock, every thread; it
slows the app down several times, so its throughput is not the app's, and it counts a call
when it returns): per thread role, the functions with the most CPU of their own and in all,
in microseconds per processed message.
Thread ownership: the main thread drives; the sampler thread only reads frames.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import parafka
from bench.kafka import unique
from parafka.testing import create_topic, produce_messages

ROLES = ("parafka-listener", "parafka-worker", "parafka-asyncio")


def _frames(frame: FrameType | None) -> Iterator[str]:
    while frame is not None:
        code = frame.f_code
        module = frame.f_globals.get("__name__", "?")
        yield f"{module}.{code.co_qualname}"
        frame = frame.f_back


class Sampler:
    """Samples stacks of the parafka threads until stopped."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.samples: dict[str, int] = collections.Counter()
        self.inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.exclusive: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        names = {}
        while not self._stop.wait(self.interval):
            for thread in threading.enumerate():
                names[thread.ident] = thread.name
            for ident, frame in sys._current_frames().items():
                role = next((r for r in ROLES if names.get(ident, "").startswith(r)), None)
                if role is None:
                    continue
                stack = list(_frames(frame))
                self.samples[role] += 1
                self.exclusive[role][stack[0]] += 1
                for name in set(stack):
                    self.inclusive[role][name] += 1

    def report(self, top: int = 15) -> str:
        lines = []
        for role in ROLES:
            total = self.samples.get(role, 0)
            if not total:
                continue
            lines.append(f"\n== {role}: {total} samples")
            lines.append("  self %   function")
            for name, count in self.exclusive[role].most_common(top):
                lines.append(f"  {100 * count / total:6.1f}   {name}")
            lines.append("  incl %   function")
            for name, count in self.inclusive[role].most_common(top):
                lines.append(f"  {100 * count / total:6.1f}   {name}")
        return "\n".join(lines)


class CpuProfile:
    """yappi on every thread for the window (``--cpu``); report per thread role."""

    def __init__(self) -> None:
        self.processed = 0
        self._stats: Any = None
        self._threads: dict[int, str] = {}

    def start(self) -> None:
        import yappi  # type: ignore[import-untyped]  # a dev dependency, for this option only

        yappi.set_clock_type("cpu")
        yappi.start(profile_threads=True)

    def stop(self) -> None:
        import yappi

        yappi.stop()
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        self._threads = {t.id: names.get(t.tid, t.name) for t in yappi.get_thread_stats()}
        self._stats = yappi.get_func_stats()

    def report(self, top: int = 15) -> str:
        per_message = 1e6 / max(self.processed, 1)
        by_role: dict[str, dict[str, list[float]]] = collections.defaultdict(dict)
        for stat in self._stats:
            name = self._threads.get(stat.ctx_id, "?")
            role = next((r for r in ROLES if name.startswith(r)), None)
            if role is None:
                continue
            key = f"{stat.module.rsplit('/', 1)[-1]}:{stat.name}"
            own, total = by_role[role].setdefault(key, [0.0, 0.0])
            by_role[role][key] = [own + stat.tsub, total + stat.ttot]
        lines = []
        for role in ROLES:
            functions = by_role.get(role)
            if not functions:
                continue
            own_all = sum(own for own, _ in functions.values())
            lines.append(f"\n== {role}: {own_all * per_message:.2f} us CPU per message")
            lines.append("  own us/msg  all us/msg   function")
            ranked = sorted(functions.items(), key=lambda item: -item[1][0])[:top]
            for key, (own, total) in ranked:
                lines.append(f"  {own * per_message:10.3f}  {total * per_message:10.3f}   {key}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--mode", choices=("threads", "async"), default="threads")
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--lanes", type=int, default=0, help="virtual partitions per partition")
    parser.add_argument("--distribution", choices=("balanced", "consistent"), default=None)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--max-messages", type=int, default=100)
    parser.add_argument("--cost-ms", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds after the first message before sampling"
    )
    parser.add_argument("--cpu", action="store_true", help="a CPU profile (yappi), not samples")
    args = parser.parse_args(argv)

    topic = unique("profile")
    create_topic(args.bootstrap, topic, args.partitions)
    produce_messages(
        args.bootstrap,
        topic,
        ((f"k{i % 1000}".encode(), b"x" * 16, i % args.partitions) for i in range(args.messages)),
    )
    done = collections.Counter[int]()
    cost = args.cost_ms / 1000.0
    lock = threading.Lock()

    if args.mode == "threads":

        class Work(parafka.Consumer):
            def consume(self, messages: parafka.Messages) -> None:
                for _message in messages:
                    if cost:
                        time.sleep(cost)
                with lock:
                    done[0] += len(messages)

        consumer: type[parafka.Consumer] = Work
    else:

        class AsyncWork(parafka.Consumer):
            async def consume(self, messages: parafka.Messages) -> None:  # type: ignore[override]
                for _message in messages:
                    if cost:
                        await asyncio.sleep(cost)
                with lock:
                    done[0] += len(messages)

        consumer = AsyncWork

    app = parafka.App(
        kafka={"bootstrap.servers": args.bootstrap},
        group_id=unique("profile"),
        concurrency=args.concurrency,
        max_messages=args.max_messages,
        log_events=False,
        watchdog_interval=None,
    )
    lanes = None
    if args.lanes:
        lanes = parafka.VirtualPartitions(
            partitioner=lambda m: m.key,
            max_partitions=args.lanes,
            distribution=args.distribution,
        )
    app.topic(topic, consumer, virtual_partitions=lanes, deserializer=parafka.raw_deserializer)
    app.start()
    try:
        while done[0] == 0:
            time.sleep(0.01)
        time.sleep(args.warmup)  # past the joins and the first fetches
        sampler = CpuProfile() if args.cpu else Sampler()
        before, began = done[0], time.monotonic()
        sampler.start()
        time.sleep(args.seconds)
        sampler.stop()
        processed, took = done[0] - before, time.monotonic() - began
        if isinstance(sampler, CpuProfile):
            sampler.processed = processed
    finally:
        app.stop()
    print(
        f"{args.mode}, {args.partitions} partitions x {args.lanes or 1} lanes, "
        f"c={args.concurrency}, max_messages={args.max_messages}, cost {args.cost_ms} ms: "
        f"{processed / took:,.0f} msg/s over {took:.1f} s"
        + ("" if processed < args.messages - before else "  (ran out of messages: raise it)")
    )
    print(sampler.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
