"""The chaos harness: parafka consumers under real faults, checked for loss, order and commits.

``python -m chaos`` (``make chaos``) starts its own local broker, runs each fault scenario
(``chaos.faults``) with 1-3 consumer processes (``chaos.app``) fed by an idempotent producer
whose acknowledged messages are written to a ledger (``chaos.ledger``), then checks the ledger,
the consumers' logs and the broker's committed offsets (``chaos.checker``).
"""
