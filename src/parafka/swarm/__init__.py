"""``parafka swarm``: an app run as N supervised processes, for CPU-bound work."""

from parafka.swarm.policy import RestartPolicy
from parafka.swarm.swarm import Swarm, default_nodes

__all__ = ["RestartPolicy", "Swarm", "default_nodes"]
