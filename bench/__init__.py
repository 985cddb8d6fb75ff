"""parafka's benchmark suite, run against a local broker: ``python -m bench`` (``make bench``)."""
