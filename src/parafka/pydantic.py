"""Pydantic models as payloads: the ``parafka[pydantic]`` extra (pydantic 2).

::

    from parafka.pydantic import model_deserializer, model_serializer

    app.topic("orders", Orders, deserializer=model_deserializer(Order))
    self.produce("invoices", invoice, serializer=model_serializer)   # inside consume()

:func:`model_deserializer` validates each value (JSON) with pydantic, on the worker thread that
asks for ``message.payload``; what does not validate raises
:class:`~parafka.errors.DeserializationError` with pydantic's reasons, so it is retried and then
dead-lettered like any other bad payload. The library itself never imports this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from parafka.deserializers import present_value
from parafka.errors import ConfigurationError, DeserializationError, SerializationError

#: Why ``import parafka.pydantic`` fails without the ``pydantic`` extra, and what to do.
PYDANTIC_NEEDED = "parafka.pydantic needs pydantic 2: pip install 'parafka[pydantic]'"

try:
    from pydantic import BaseModel, TypeAdapter, ValidationError
    from pydantic_core import PydanticSerializationError
except ModuleNotFoundError as exc:  # an extra: parafka itself never needs pydantic
    raise ModuleNotFoundError(PYDANTIC_NEEDED, name=exc.name) from exc
except ImportError as exc:  # pydantic 1 has no TypeAdapter
    raise ImportError(f"{PYDANTIC_NEEDED} ({exc})", name=exc.name) from exc

if TYPE_CHECKING:
    from parafka.messages import Deserializer, Message

__all__ = ["PYDANTIC_NEEDED", "model_deserializer", "model_serializer"]

T = TypeVar("T")

#: How many of pydantic's errors a DeserializationError names (the rest are counted), and
#: how long each may be.
_ERRORS_SHOWN = 3
_ERROR_LENGTH = 200


def model_deserializer(model: type[T]) -> Deserializer[T]:
    """A deserializer that validates the value (JSON) as ``model``: a pydantic model, or any
    type pydantic validates (a dataclass, ``list[Order]``...). ``message.payload`` is then a
    ``model``, and ``parafka.Messages[model]`` type-checks.

    A tombstone (None), an empty value, invalid JSON or a value that does not validate raise
    :class:`~parafka.errors.DeserializationError` naming the fields and pydantic's reasons. A
    ``model`` pydantic cannot validate raises :class:`~parafka.errors.ConfigurationError` here.
    """
    name = _qualified(model)
    try:
        adapter = TypeAdapter(model)  # builds the validator once, for every message
    except Exception as exc:
        reason = str(exc).split("\n", 1)[0]
        raise ConfigurationError(
            f"model_deserializer({name}): pydantic cannot validate it ({reason})"
        ) from exc

    def deserialize(message: Message[Any]) -> T:
        value = present_value(message)
        try:
            return adapter.validate_json(value)
        except ValidationError as exc:
            raise DeserializationError(message, f"not a valid {name}: {_summary(exc)}") from exc

    deserialize.__qualname__ = f"model_deserializer({name})"
    return deserialize


def model_serializer(value: Any) -> bytes | None:
    """For ``produce(..., serializer=model_serializer)``: a pydantic model as its JSON
    (``model_dump_json()``, with the model's own settings) in UTF-8; None stays None (a
    tombstone). Anything else, or a model that cannot be dumped, raises
    :class:`~parafka.errors.SerializationError`.

    (pydantic has a decorator of the same name; import this module to tell them apart.)
    """
    if value is None:
        return None
    if not isinstance(value, BaseModel):
        raise SerializationError(
            f"model_serializer takes a pydantic model, got {type(value).__qualname__}; "
            "use parafka.json_serializer for plain JSON values"
        )
    try:
        return value.model_dump_json().encode("utf-8")
    except PydanticSerializationError as exc:
        raise SerializationError(
            f"model_serializer cannot dump the {type(value).__qualname__}: {exc}"
        ) from exc


def _summary(error: ValidationError) -> str:
    """pydantic's errors on one line: ``id: Input should be a valid integer; total: Field
    required`` (the first few; the input values are left out, they may be large or secret)."""
    errors = error.errors(include_url=False, include_context=False, include_input=False)
    parts = []
    for item in errors[:_ERRORS_SHOWN]:
        where = ".".join(str(part) for part in item["loc"])
        text = (
            item["msg"] if len(item["msg"]) <= _ERROR_LENGTH else item["msg"][:_ERROR_LENGTH] + "…"
        )
        parts.append(f"{where}: {text}" if where else text)
    more = len(errors) - _ERRORS_SHOWN
    return "; ".join(parts) + (f" (and {more} more errors)" if more > 0 else "")


def _qualified(model: object) -> str:
    if isinstance(model, type):
        module = model.__module__
        return model.__qualname__ if module == "builtins" else f"{module}.{model.__qualname__}"
    return repr(model)  # list[Order], Order | None, ...
