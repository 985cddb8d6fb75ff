"""Benchmarks for parafka, run against a local broker: ``python -m bench.engine`` (make bench)."""
