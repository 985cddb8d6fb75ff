"""When a swarm node that exited is started again, and when the supervisor gives up.

Pure: :class:`RestartPolicy` turns a node's exit (how long it ran, how many failures in a
row it had) into a back-off delay, or into ``None``, a crash loop. Used by the supervisor's
main thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from parafka.errors import ConfigurationError

__all__ = ["RestartPolicy"]


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential back-off between restarts of one node, and the crash-loop limit.

    A node that exits within ``stable_after`` seconds of its start counts one more failure in
    a row; one that ran longer starts a new count. The n-th failure in a row waits
    ``min(backoff * 2 ** (n - 1), max_backoff)`` before the restart; the failure that makes
    more than ``max_restarts`` in a row is a crash loop: the swarm stops instead.
    """

    backoff: float = 1.0
    max_backoff: float = 30.0
    max_restarts: int = 5
    stable_after: float = 60.0

    def __post_init__(self) -> None:
        for name in ("backoff", "max_backoff", "stable_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}")
        if self.max_backoff < self.backoff:
            raise ConfigurationError(
                f"max_backoff ({self.max_backoff}) must be >= backoff ({self.backoff})"
            )
        if (
            isinstance(self.max_restarts, bool)
            or not isinstance(self.max_restarts, int)
            or self.max_restarts < 0
        ):
            raise ConfigurationError(
                f"max_restarts must be an integer >= 0, got {self.max_restarts!r}"
            )

    def failures_after(self, failures: int, ran_for: float) -> int:
        """The failures in a row once a node that ran ``ran_for`` seconds exited."""
        return 1 if ran_for >= self.stable_after else failures + 1

    def delay(self, failures: int) -> float | None:
        """Seconds to wait before the restart after ``failures`` in a row; None: give up."""
        if failures > self.max_restarts:
            return None
        if failures <= 0:
            return 0.0
        return float(min(self.backoff * 2 ** min(failures - 1, 64), self.max_backoff))
