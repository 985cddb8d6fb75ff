"""Which produce failures are permanent (the message can never be produced) and which may
pass later. Pure functions of librdkafka's ``KafkaError``; used by :mod:`parafka.producing`."""

from __future__ import annotations

from confluent_kafka import KafkaError

__all__ = ["PER_BATCH", "is_fatal", "permanent_reason"]

# -- permanent versus retriable ------------------------------------------------------------
#
# Permanent means "this message can never be produced", whatever the caller waits for. Errors an
# operator can fix without changing the message stay retriable: TOPIC_AUTHORIZATION_FAILED (an
# ACL), UNKNOWN_TOPIC_OR_PART (a topic created later), INVALID_TIMESTAMP (our timestamp is the
# clock's), timeouts, purges, _FATAL (the producer is re-created). ``KafkaError.retriable()``
# is no guide here: it is False for authorization and timeouts as much as for a too large message.

#: Refused by the client itself when producing: only this message's own content is judged.
_PERMANENT_AT_PRODUCE: dict[int, str] = {
    KafkaError.MSG_SIZE_TOO_LARGE: "the message is larger than the producer's message.max.bytes",
    KafkaError._INVALID_ARG: "librdkafka rejected the message's arguments",
    KafkaError.TOPIC_EXCEPTION: "the topic name is not a valid Kafka topic name",
}
#: Refused by the broker for the whole record batch the message travelled in. A small message
#: batched with a large one gets MSG_SIZE_TOO_LARGE too (seen against the real broker), so one of
#: these is permanent only once the message failed with it again when sent by itself.
PER_BATCH: dict[int, str] = {
    KafkaError.MSG_SIZE_TOO_LARGE: "the message is larger than the topic's max.message.bytes",
    KafkaError.RECORD_LIST_TOO_LARGE: "the message is larger than the topic's segment.bytes",
    KafkaError.INVALID_RECORD: "the broker found the record invalid for this topic "
    "(e.g. no key on a compacted topic)",
    KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT: "the topic's message format cannot hold it "
    "(e.g. headers on a pre-0.11 format)",
}
#: Refused by the broker for the message's topic, whatever the batch.
_PERMANENT_PER_TOPIC: dict[int, str] = {
    KafkaError.TOPIC_EXCEPTION: "the topic name is not a valid Kafka topic name",
}


def permanent_reason(
    error: KafkaError, *, at_produce: bool = False, alone: bool = True
) -> str | None:
    """Why ``error`` means the message can never be produced, or None when it may work later.

    ``at_produce``: raised by ``produce()`` itself (the client judged the message) rather than
    reported on delivery. ``alone``: for a delivery report, whether the message already failed
    the same way before, so its batch-mates are ruled out as the cause.
    """
    code = error.code()
    if at_produce:
        return _PERMANENT_AT_PRODUCE.get(code)
    if code in _PERMANENT_PER_TOPIC:
        return _PERMANENT_PER_TOPIC[code]
    return PER_BATCH.get(code) if alone else None


def is_fatal(error: KafkaError) -> bool:
    """librdkafka's producer is dead after this error (``fatal()``, or ``_FATAL`` from it)."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL
