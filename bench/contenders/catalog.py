"""What the tables say about each contender, read from its module without importing it.

A peer's module imports its framework, which is only installed in the peer's own virtualenv, so
the module-level constants (``LABEL``, ``KEY_ORDER``, ``PER_KEY_PARALLELISM``, ``AT_LEAST_ONCE``,
``IN_PROCESS_PARALLELISM``, ``PROCESSES``, ``VIRTUALENV``) are read from its source with
:mod:`ast`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Traits", "traits"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Traits:
    module: str
    label: str
    key_order: bool  # keeps per-partition (per-key) order while processing in parallel
    per_key_parallelism: bool  # can process one partition's messages in parallel
    at_least_once: bool  # commits only processed offsets
    in_process_parallelism: bool  # can use more than one thread/coroutine per process
    processes: int  # processes that process messages (a pool, workers, nodes); 1: in-process
    virtualenv: str | None  # the peer virtualenv it runs in, when not its own (see venvs)


@cache
def traits(module: str) -> Traits:
    tree = ast.parse((_HERE / f"{module}.py").read_text())
    constants: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return Traits(
        module=module,
        label=str(constants.get("LABEL", module)),
        key_order=bool(constants.get("KEY_ORDER", False)),
        per_key_parallelism=bool(constants.get("PER_KEY_PARALLELISM", False)),
        at_least_once=bool(constants.get("AT_LEAST_ONCE", False)),
        in_process_parallelism=bool(constants.get("IN_PROCESS_PARALLELISM", True)),
        processes=int(str(constants.get("PROCESSES", 1))),
        virtualenv=str(constants["VIRTUALENV"]) if "VIRTUALENV" in constants else None,
    )
