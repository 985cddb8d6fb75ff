"""DeadLetterQueue's on_undeliverable option and the critical error it stops the app with."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

import parafka
from parafka.dead_letters import undeliverable_dead_letter


def test_on_undeliverable_defaults_to_stop_and_accepts_skip() -> None:
    assert parafka.DeadLetterQueue(topic="d").on_undeliverable == "stop"
    assert parafka.DeadLetterQueue(topic="d", on_undeliverable="skip").on_undeliverable == "skip"


@pytest.mark.parametrize("value", ["ignore", "STOP", None, True, 1])
def test_any_other_on_undeliverable_is_a_configuration_error(value: object) -> None:
    with pytest.raises(parafka.ConfigurationError, match="on_undeliverable") as caught:
        parafka.DeadLetterQueue(topic="d", on_undeliverable=value)  # type: ignore[arg-type]
    assert "'stop'" in str(caught.value)
    assert "'skip'" in str(caught.value)


def test_the_stop_error_names_the_message_and_the_cause() -> None:
    cause = parafka.UndeliverableError(
        "orders.dlq", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), "too large for the topic"
    )
    error = undeliverable_dead_letter(
        topic="orders", partition=3, offset=42, dead_letter_topic="orders.dlq", error=cause
    )
    assert isinstance(error, parafka.DeadLetterError)
    assert error.__cause__ is cause
    assert "orders/3 offset 42" in str(error)
    assert "'orders.dlq'" in str(error)
    assert "MSG_SIZE_TOO_LARGE" in str(error)
