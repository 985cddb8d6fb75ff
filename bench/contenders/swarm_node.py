"""The parafka app that ``parafka swarm bench.contenders.swarm_node:app --nodes N`` runs in each
of its nodes, for :mod:`bench.contenders.parafka_swarm`.

Built at import from the spec in ``BENCH_SPEC`` (the supervisor imports it and never starts it;
each forked node runs it): the very App of :mod:`bench.contenders.parafka_app` (the same
concurrency, settings and consumer class), whose consumer hands each message to this node's
:class:`~bench.contenders.remote.Probe` instead of the contender's recorder. The probe is looked
up on each call, so every node (a fork of the supervisor) builds and uses its own.
Thread ownership: ``consume`` runs on the node's worker threads; the probe is thread-safe.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.contenders.common import Spec
from bench.contenders.parafka_app import app_for
from bench.contenders.remote import SPEC_ENV, probe


class _NodeProbe:
    """This node's probe, found when a message is processed (after the fork)."""

    def process(self, partition: int, value: bytes | None) -> None:
        probe().process(partition, value)

    async def process_async(self, partition: int, value: bytes | None) -> None:
        await probe().process_async(partition, value)

    def record_many(self, partition: int, count: int, values: Sequence[bytes | None] = ()) -> None:
        probe().record_many(partition, count, values)


app = app_for(Spec.from_json(os.environ[SPEC_ENV]), _NodeProbe())
