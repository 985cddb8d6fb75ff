"""What a node tells the supervisor, one JSON object per line on the node's pipe.

- ``{"kind": "report", "ok": true}``: alive and healthy (every ``node_report_interval``);
  ``"ok": false`` with ``"reason"`` when the app is not healthy (a listener stopped polling).
  Only healthy reports count as liveness: a node without one for ``node_report_timeout`` is
  hung.
- ``{"kind": "error", "message": "..."}``: the app could not start (its configuration); the
  node exits with :data:`EXIT_CONFIG` and the supervisor stops the swarm instead of
  restarting it.

:func:`encode` runs in the node, :class:`LineReader` in the supervisor's main thread. A line
that is not such an object is kept as ``{"kind": "garbled"}``: never a crash of the supervisor.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EXIT_CONFIG", "LineReader", "encode"]

#: A node's exit status when the app cannot start with its configuration (sysexits EX_CONFIG).
EXIT_CONFIG = 78

#: A longer line without a newline is cut off: a node cannot make the supervisor hoard memory.
_MAX_LINE = 64 * 1024


def encode(kind: str, **fields: Any) -> bytes:
    """One report as a line of JSON."""
    return json.dumps({"kind": kind, **fields}, default=str).encode() + b"\n"


class LineReader:
    """Splits the bytes read from a node's pipe into reports (supervisor's main thread)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The complete reports in ``data`` and what came before it."""
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_LINE:
            lines.append(self._pending)
            self._pending = b""
        return [_decode(line) for line in lines if line.strip()]


def _decode(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {"kind": "garbled", "line": line[:200].decode(errors="replace")}
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return {"kind": "garbled", "line": line[:200].decode(errors="replace")}
    return value
