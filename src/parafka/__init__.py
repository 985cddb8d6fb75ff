"""parafka: Karafka's concurrency model for Python, on confluent-kafka."""

from parafka.app import App
from parafka.consumer import Consumer
from parafka.dead_letters import DeadLetterQueue
from parafka.deserializers import (
    headers_dict_deserializer,
    headers_raw_deserializer,
    json_deserializer,
    key_json_deserializer,
    key_raw_deserializer,
    key_string_deserializer,
    raw_deserializer,
    string_deserializer,
)
from parafka.errors import (
    AuthenticationFailed,
    ClientStuck,
    ConfigurationError,
    DeadLetterError,
    DeserializationError,
    ParafkaError,
    SecurityError,
    SerializationError,
    SslHandshakeFailed,
    UndeliverableError,
)
from parafka.instrumentation import Event
from parafka.messages import BatchMetadata, Deserializer, Message, Messages
from parafka.processing.virtual import VirtualPartitions
from parafka.serializers import Serializer, bytes_serializer, json_serializer, string_serializer
from parafka.topics import TopicConfig

__version__ = "0.1.0"

__all__ = [
    "App",
    "AuthenticationFailed",
    "BatchMetadata",
    "ClientStuck",
    "ConfigurationError",
    "Consumer",
    "DeadLetterError",
    "DeadLetterQueue",
    "DeserializationError",
    "Deserializer",
    "Event",
    "Message",
    "Messages",
    "ParafkaError",
    "SecurityError",
    "SerializationError",
    "Serializer",
    "SslHandshakeFailed",
    "TopicConfig",
    "UndeliverableError",
    "VirtualPartitions",
    "__version__",
    "bytes_serializer",
    "headers_dict_deserializer",
    "headers_raw_deserializer",
    "json_deserializer",
    "json_serializer",
    "key_json_deserializer",
    "key_raw_deserializer",
    "key_string_deserializer",
    "raw_deserializer",
    "string_deserializer",
    "string_serializer",
]
