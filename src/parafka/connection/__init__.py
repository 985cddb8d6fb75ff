"""Kafka connections: one listener thread per subscription group, owning its client."""
