"""A real Apache Kafka broker on demand, for development, demos and tests (``parafka broker``)."""

from parafka.broker.jars import resolve_jars
from parafka.broker.java import find_java
from parafka.broker.local import (
    DEFAULT_KAFKA_VERSION,
    BrokerInfo,
    LocalBroker,
    parafka_home,
)
from parafka.broker.security import ScramUser, SslCertificate

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerInfo",
    "LocalBroker",
    "ScramUser",
    "SslCertificate",
    "find_java",
    "parafka_home",
    "resolve_jars",
]
