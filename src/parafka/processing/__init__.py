"""Processing: what happens to fetched messages between a listener and the user's ``consume()``.

One module per concept, from fetch to commit:

- ``coordinator``: the per-partition state machine a listener and the workers share.
- ``offsets``: offset arithmetic for one partition (unfinished offsets, the commit point).
- ``progress``: out-of-order progress carried in a committed offset's metadata.
- ``lanes``: a lane, the unit of ordered one-at-a-time work inside a partition.
- ``virtual``: virtual partitions, the route option that splits a partition into lanes.
- ``intake``: each fetched message's key and, where fixed, its lane (virtual partitions).
- ``distribution``: where a virtual-partitioned message goes.
- ``jobs``: what crosses from a listener to the worker pool.
- ``workers``: the jobs queue and the worker pool shared by every listener.
- ``executor``: one partition's consumer instances, their hooks and dead letters.
- ``coroutines``: the event loop thread that runs ``async def consume``.
- ``retries``: retry, back-off and dead-letter decisions for one lane.
- ``seeking``: a consumer's pause or seek inside one partition.
- ``watchdog``: reports jobs that run longer than ``watchdog_interval``.
"""
