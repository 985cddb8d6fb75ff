"""parafka: Karafka's concurrency model for Python, on confluent-kafka."""

from parafka.errors import ConfigurationError, ParafkaError

__version__ = "0.1.0"

__all__ = ["ConfigurationError", "ParafkaError", "__version__"]
