"""Ready-made deserializers: ``message -> payload`` (value), ``-> key`` and ``-> headers``.

A route names one of each (``app.topic(..., deserializer=, key_deserializer=,
headers_deserializer=)``); :class:`~parafka.messages.Message` runs them lazily on the worker
thread, once per message and part. Each raises
:class:`~parafka.errors.DeserializationError` for input it cannot read; the raw bytes stay
reachable (``message.value``, ``message.raw_key``, ``message.raw_headers``).

Defaults: :func:`json_deserializer` for the value, :func:`key_raw_deserializer` (the key's
bytes, or None) and :func:`headers_raw_deserializer` (the list of ``(name, value)`` pairs).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from parafka.errors import DeserializationError

if TYPE_CHECKING:
    from parafka.messages import Message

__all__ = [
    "headers_dict_deserializer",
    "headers_raw_deserializer",
    "json_deserializer",
    "key_json_deserializer",
    "key_raw_deserializer",
    "key_string_deserializer",
    "raw_deserializer",
    "string_deserializer",
]

# -- values ------------------------------------------------------------------------------------


def present_value(message: Message[Any]) -> bytes:
    """The value's bytes for a deserializer that needs some: a tombstone (None) or an empty
    value raise :class:`~parafka.errors.DeserializationError` saying which."""
    value = message.value
    if value is None:
        raise DeserializationError(message, "the value is None (a tombstone)")
    if not value:
        raise DeserializationError(message, "the value is empty")
    return value


def json_deserializer(message: Message[Any]) -> Any:
    """The default: the value parsed as UTF-8 JSON.

    A missing value (a tombstone), an empty one, invalid UTF-8 or invalid JSON raise
    :class:`~parafka.errors.DeserializationError` (so they go through retries and the dead
    letter queue); ``message.value`` still gives the raw bytes.
    """
    value = present_value(message)
    try:
        return json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DeserializationError(message, f"the value is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DeserializationError(message, f"the value is not JSON: {exc}") from exc


def raw_deserializer(message: Message[Any]) -> Any:
    """The value's bytes as they are (None for a tombstone)."""
    return message.value


def string_deserializer(message: Message[Any]) -> str:
    """The value decoded as UTF-8 (an empty value is ``""``). A tombstone (None) or invalid
    UTF-8 raise :class:`~parafka.errors.DeserializationError`."""
    value = message.value
    if value is None:
        raise DeserializationError(message, "the value is None (a tombstone)")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeserializationError(message, f"the value is not UTF-8: {exc}") from exc


# -- keys --------------------------------------------------------------------------------------


def key_raw_deserializer(message: Message[Any]) -> bytes | None:
    """The default: the key's bytes as they are, or None for a message without a key."""
    return message.raw_key


def key_string_deserializer(message: Message[Any]) -> str | None:
    """The key decoded as UTF-8; no key stays None. Invalid UTF-8 raises
    :class:`~parafka.errors.DeserializationError`."""
    key = message.raw_key
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeserializationError(message, f"the key is not UTF-8: {exc}", part="key") from exc


def key_json_deserializer(message: Message[Any]) -> Any:
    """The key parsed as UTF-8 JSON; no key stays None. An empty key, invalid UTF-8 or
    invalid JSON raise :class:`~parafka.errors.DeserializationError`."""
    key = message.raw_key
    if key is None:
        return None
    if not key:
        raise DeserializationError(message, "the key is empty", part="key")
    try:
        return json.loads(key.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DeserializationError(message, f"the key is not UTF-8: {exc}", part="key") from exc
    except json.JSONDecodeError as exc:
        raise DeserializationError(message, f"the key is not JSON: {exc}", part="key") from exc


# -- headers -----------------------------------------------------------------------------------


def headers_raw_deserializer(message: Message[Any]) -> list[tuple[str, str | bytes | None]]:
    """The default: the headers as librdkafka gives them, a list of ``(name, value)`` pairs
    in order (a name may repeat; a value is bytes or None)."""
    return message.raw_headers


def headers_dict_deserializer(message: Message[Any]) -> dict[str, str | None]:
    """The headers as a dict of UTF-8 strings (a header without a value is None); for a name
    that repeats, the last value wins. A value that is not UTF-8 raises
    :class:`~parafka.errors.DeserializationError` naming the header."""
    decoded: dict[str, str | None] = {}
    for name, value in message.raw_headers:
        if isinstance(value, bytes):
            try:
                decoded[name] = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DeserializationError(
                    message, f"the value of header {name!r} is not UTF-8: {exc}", part="headers"
                ) from exc
        else:
            decoded[name] = value
    return decoded
