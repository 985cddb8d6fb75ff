"""Serializers for ``Consumer.produce()``: ``value -> bytes | None``, for the value and the key.

Without one, ``produce()`` takes bytes (or bytearray, memoryview), ``str`` (UTF-8) and None (a
tombstone, or no key), and refuses anything else. Everything is turned into bytes and checked
before the producer sees it: a value, key or header that cannot be sent raises
:class:`~parafka.errors.SerializationError` and nothing is produced.

Called on the thread that calls ``produce()`` (a worker, or the event loop for
``produce_async``); the serializers keep no state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from parafka.errors import SerializationError

__all__ = [
    "Headers",
    "Serializer",
    "bytes_serializer",
    "json_serializer",
    "serialize",
    "serialize_headers",
    "string_serializer",
]

#: ``value -> bytes | None``: what ``produce(..., serializer=, key_serializer=)`` takes.
Serializer = Callable[[Any], bytes | None]

#: Headers given to ``produce()``: ``(name, value)`` pairs (a name may repeat) or a mapping;
#: a value is str (sent as UTF-8), bytes or None.
Headers = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None]

_BYTES_LIKE = (bytes, bytearray, memoryview)


def bytes_serializer(value: Any) -> bytes | None:
    """Bytes (or bytearray, memoryview) as they are; None stays None. Anything else raises
    :class:`~parafka.errors.SerializationError`."""
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, _BYTES_LIKE):
        return bytes(value)
    raise SerializationError(f"bytes_serializer takes bytes, got {_type_name(value)}")


def string_serializer(value: Any) -> bytes | None:
    """A str as UTF-8; None stays None. Anything else raises
    :class:`~parafka.errors.SerializationError` (so does a str with lone surrogates)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SerializationError(f"string_serializer takes a str, got {_type_name(value)}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SerializationError(f"the str cannot be encoded as UTF-8: {exc}") from exc


def json_serializer(value: Any) -> bytes | None:
    """Compact JSON in UTF-8 (``{"id":1}``); None stays None (a tombstone, not ``null``).

    What JSON cannot hold (a datetime, a set, bytes, an object, NaN or infinity) raises
    :class:`~parafka.errors.SerializationError` naming its type; convert it first (or, for
    pydantic models, use ``parafka.pydantic.model_serializer``).
    """
    if value is None:
        return None
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"json_serializer cannot encode {_a(value)}: {exc}") from exc
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a str with lone surrogates somewhere inside
        raise SerializationError(f"json_serializer cannot encode it as UTF-8: {exc}") from exc


def serialize(value: Any, serializer: Serializer | None, what: str) -> bytes | None:
    """``value`` as ``produce()`` sends it (``what``: "value" or "key", for the errors).

    Without a ``serializer``: bytes-like and None as they are, str as UTF-8, anything else a
    :class:`~parafka.errors.SerializationError` saying which serializer to pass. With one: its
    result, which must be bytes (or bytes-like) or None; whatever it raises other than a
    ``SerializationError`` is raised as one naming it.
    """
    parameter = "serializer" if what == "value" else "key_serializer"
    if serializer is None:
        if value is None or type(value) is bytes:
            return value
        if isinstance(value, str):
            return string_serializer(value)
        if isinstance(value, _BYTES_LIKE):
            return bytes(value)
        # A pydantic model is not JSON to json.dumps: point at the serializer that takes it.
        model = hasattr(type(value), "model_dump_json")
        suggested = "parafka.pydantic.model_serializer" if model else "parafka.json_serializer"
        raise SerializationError(
            f"produce() cannot send {_a(value)} as the {what}: it takes bytes, str "
            f"or None; pass {parameter}={suggested} (or encode it yourself)"
        )
    if not callable(serializer):
        raise SerializationError(
            f"{parameter} must be callable (value -> bytes | None), got {_a(serializer)}"
        )
    name = _callable_name(serializer)
    try:
        result = serializer(value)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"the {what} serializer {name} raised {type(exc).__name__} for {_a(value)}: {exc}"
        ) from exc
    if result is None or type(result) is bytes:
        return result
    if isinstance(result, _BYTES_LIKE):
        return bytes(result)
    raise SerializationError(
        f"the {what} serializer {name} returned {_a(result)}; "
        "a serializer must return bytes or None"
    )


def serialize_headers(headers: Headers | None) -> list[tuple[str, bytes | None]] | None:
    """``headers`` as ``(name, value)`` pairs for librdkafka, checked: names must be str,
    values str (sent as UTF-8), bytes (bytearray, memoryview) or None; otherwise a
    :class:`~parafka.errors.SerializationError` naming the header."""
    if headers is None:
        return None
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise SerializationError(
            f"headers must be (name, value) pairs or a mapping, got {_type_name(headers)}"
        )
    checked: list[tuple[str, bytes | None]] = []
    for index, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise SerializationError(
                f"header #{index} must be a (name, value) pair, got {_type_name(item)} {item!r:.80}"
            )
        name, value = item
        if not isinstance(name, str):
            raise SerializationError(
                f"header #{index} has a name of type {_type_name(name)}; header names are str"
            )
        if value is None or type(value) is bytes:
            checked.append((name, value))
        elif isinstance(value, str):
            try:
                checked.append((name, value.encode("utf-8")))
            except UnicodeEncodeError as exc:
                raise SerializationError(
                    f"header {name!r} has a str value that is not encodable as UTF-8: {exc}"
                ) from exc
        elif isinstance(value, _BYTES_LIKE):
            checked.append((name, bytes(value)))
        else:
            raise SerializationError(
                f"header {name!r} has a value of type {_type_name(value)}; header values are "
                "str, bytes or None (encode it yourself)"
            )
    return checked


def _a(value: object) -> str:
    """``a dict``, ``an int``: the type of ``value`` with its article."""
    name = _type_name(value)
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _type_name(value: object) -> str:
    kind = type(value)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _callable_name(function: object) -> str:
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}" if module and module != "builtins" else str(name)
