"""CPU time and peak RSS of the contender process together with every process it started.

Standard library only: this module runs inside each peer's own virtualenv.

A contender that runs its work in other processes (a multiprocessing pool, ``faststream run
--workers 2``, ``parafka swarm``) must be charged for them too. ``getrusage(RUSAGE_CHILDREN)``
sees a child only once it has been reaped, which is after its framework shut down, while the
figures are taken the moment the last expected message is processed. So they are read from
``/proc`` then:

- CPU: for this process, ``getrusage`` of itself and of its reaped children; for every live
  descendant (children, their children, ...), ``utime + stime`` of its ``/proc/<pid>/stat`` plus
  its ``cutime + cstime`` (the descendants it reaped). Every process is counted once.
- Peak RSS: the sum of each process's ``VmHWM`` (its own high-water mark), this one's and every
  live descendant's. Pages that forked processes share are counted in each, so for a forked
  tree this is an upper bound. A child reaped before the end is left out: its ``ru_maxrss``
  would start from its parent's peak (fork copies it, exec keeps it).

A contender without child processes gets exactly its own figures, as before. Without ``/proc``
(not Linux) only this process is counted.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessUsage", "TreeUsage", "descendants", "parse_stat", "tree_usage"]

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessUsage:
    """One process as ``/proc`` shows it: its parent, its CPU and its peak RSS."""

    pid: int
    ppid: int
    cpu_seconds: float  # utime + stime + cutime + cstime
    peak_kib: int  # VmHWM


@dataclass(frozen=True)
class TreeUsage:
    """This process and its live descendants at one moment."""

    cpu_seconds: float  # this process and its reaped children (getrusage), and the descendants
    peak_kib: int  # sum of VmHWM
    processes: int  # how many were counted, this one included


def parse_stat(text: str, ticks_per_second: int) -> tuple[int, float]:
    """``(ppid, cpu seconds)`` from the text of ``/proc/<pid>/stat``; the CPU is
    ``utime + stime + cutime + cstime``. The command name (field 2) may hold spaces and
    parentheses, so the fields are counted from its last ``)``."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14-17.
    ppid = int(fields[1])
    ticks = sum(int(value) for value in fields[11:15])
    return ppid, ticks / ticks_per_second


def descendants(root: int, parents: Mapping[int, int]) -> list[int]:
    """Every process below ``root`` (children, their children, ...) in ``parents`` (pid ->
    ppid), breadth first."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    queue = [root]
    while queue:
        below = sorted(children.get(queue.pop(0), ()))
        found.extend(below)
        queue.extend(below)
    return found


def tree_usage(
    own_cpu_seconds: float, own_peak_kib: int, others: Iterable[ProcessUsage]
) -> TreeUsage:
    """The sums described in the module docstring, from one reading of every process."""
    others = list(others)
    return TreeUsage(
        cpu_seconds=own_cpu_seconds + sum(p.cpu_seconds for p in others),
        peak_kib=own_peak_kib + sum(p.peak_kib for p in others),
        processes=1 + len(others),
    )


def read_tree() -> TreeUsage:
    """This process and its live descendants, now."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_cpu = me.ru_utime + me.ru_stime + reaped.ru_utime + reaped.ru_stime
    own_peak = _vm_hwm_kib(_PROC / "self") or me.ru_maxrss  # no procfs: the fallback
    return tree_usage(own_cpu, own_peak, _live_descendants(os.getpid()))


def _live_descendants(root: int) -> list[ProcessUsage]:
    if not _PROC.is_dir():
        return []
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid, seconds = parse_stat((entry / "stat").read_text(), ticks)
        except (OSError, ValueError, IndexError):
            continue  # it ended while /proc was read
        parents[int(entry.name)] = ppid
        cpu[int(entry.name)] = seconds
    found = []
    for pid in descendants(root, parents):
        peak = _vm_hwm_kib(_PROC / str(pid))
        found.append(ProcessUsage(pid, parents[pid], cpu[pid], peak))
    return found


def _vm_hwm_kib(directory: Path) -> int:
    """``VmHWM`` of ``/proc/<pid>/status`` in KiB; 0 when unreadable (ended, or no procfs)."""
    try:
        with (directory / "status").open() as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
