"""Contenders: each way of consuming a workload, run in a process of its own.

A contender is a module ``bench.contenders.<name>`` with ``run(spec, recorder)``. The runner
(:mod:`bench.contenders.runner`) starts ``python -m bench.contenders <name> <spec JSON>`` with the
contender's own interpreter (the peers live in virtualenvs of their own, see
:mod:`bench.contenders.venvs`), so CPU time and peak RSS are the contender's alone.

Nothing in this package may import third-party modules at import time except the contender's own
module: the peers' virtualenvs hold only their framework.
"""
