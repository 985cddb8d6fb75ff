"""Configuration from environment variables: the arguments of ``App.from_env()``.

Two families of variables, each with its own prefix:

- ``PARAFKA_<SETTING>``: an App setting (``PARAFKA_CONCURRENCY=8`` -> ``concurrency=8``). The
  settings and the type each is converted to come from the signature of ``App.__init__``, so a
  new setting is readable from the environment without touching this module. A variable with
  the prefix that names no setting is an error (a typo must not be ignored), with a suggestion.
- ``KAFKA_<NAME>``: a librdkafka setting, passed through as a string. ``_`` becomes ``.`` and
  the name is lowercased (``KAFKA_AUTO_OFFSET_RESET`` -> ``auto.offset.reset``); ``__`` stands
  for a literal ``_``, which a few librdkafka names contain (``KAFKA_LOG__LEVEL`` ->
  ``log_level``). The names and values are checked by librdkafka itself, so an error names the
  variable rather than surfacing later from a listener.

Values of secret settings (see :func:`parafka.config.is_secret`) never appear in errors.
Everything here runs on the caller's thread, once, before the app exists.
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import confluent_kafka

from parafka.config import (
    COMMIT_INTERVAL_KEY,
    MANAGED_KAFKA_KEYS,
    commit_interval,
    is_secret,
    validate_kafka,
)
from parafka.errors import ConfigurationError

__all__ = [
    "DEFAULT_KAFKA_PREFIX",
    "DEFAULT_PREFIX",
    "OTHER_VARIABLES",
    "app_arguments",
    "kafka_from_env",
    "kafka_key",
    "settings_from_env",
]

DEFAULT_PREFIX = "PARAFKA_"
DEFAULT_KAFKA_PREFIX = "KAFKA_"

#: Variables with the default prefix that other parts of parafka read; they are not settings,
#: and ``from_env`` leaves them alone instead of calling them typos.
OTHER_VARIABLES: Mapping[str, str] = {
    "PARAFKA_HOME": "the local broker's directory (parafka broker)",
    "PARAFKA_BOOTSTRAP_SERVERS": "the broker the test suite uses (see docs/contributing.md)",
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE = "none"


def app_arguments(init: Callable[..., Any]) -> dict[str, Any]:
    """The keyword settings of ``init`` (``App.__init__``) and their resolved types, except
    ``kafka`` (which the ``KAFKA_`` variables fill)."""
    hints = typing.get_type_hints(init)
    return {
        name: hints[name]
        for name, parameter in inspect.signature(init).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "kafka"
    }


def settings_from_env(
    arguments: Mapping[str, Any], environ: Mapping[str, str], prefix: str, kafka_prefix: str
) -> dict[str, Any]:
    """The settings of ``arguments`` (name -> type) set by ``<prefix><NAME>`` variables,
    converted to their types. Raises :class:`ConfigurationError` naming the variable for a
    value that does not convert, or for a variable that names no setting."""
    if not prefix:
        raise ConfigurationError("from_env: the prefix of the settings' variables is empty")
    by_variable = {f"{prefix}{name.upper()}": name for name in arguments}
    settings: dict[str, Any] = {}
    unknown: list[str] = []
    for variable in sorted(environ):
        if not variable.startswith(prefix) or variable.startswith(kafka_prefix):
            continue
        name = by_variable.get(variable)
        if name is None:
            if variable not in OTHER_VARIABLES or prefix != DEFAULT_PREFIX:
                unknown.append(variable)
            continue
        settings[name] = _convert(variable, environ[variable], arguments[name])
    if unknown:
        raise ConfigurationError(_unknown_message(unknown, list(by_variable), prefix, kafka_prefix))
    return settings


def kafka_key(name: str) -> str:
    """The librdkafka setting a variable name (without its prefix) stands for:
    ``SASL_MECHANISM`` -> ``sasl.mechanism``, ``LOG__LEVEL`` -> ``log_level``."""
    return "_".join(part.lower().replace("_", ".") for part in name.split("__"))


def kafka_from_env(environ: Mapping[str, str], kafka_prefix: str) -> dict[str, str]:
    """librdkafka settings from ``<kafka_prefix><NAME>`` variables, checked by librdkafka."""
    if not kafka_prefix:
        raise ConfigurationError("from_env: the prefix of the librdkafka variables is empty")
    variables = {
        kafka_key(variable.removeprefix(kafka_prefix)): variable
        for variable in sorted(environ)
        if variable.startswith(kafka_prefix) and variable != kafka_prefix
    }
    for key, variable in variables.items():
        if key in MANAGED_KAFKA_KEYS:
            raise ConfigurationError(
                f"{variable}: librdkafka's {key!r} is managed by parafka and cannot be set "
                f"({MANAGED_KAFKA_KEYS[key]})"
            )
    kafka = {key: environ[variable] for key, variable in variables.items()}
    _check_with_librdkafka(kafka, variables, kafka_prefix)
    if COMMIT_INTERVAL_KEY in variables:
        commit_interval(kafka, variables[COMMIT_INTERVAL_KEY])
    return validate_kafka(kafka, f"the {kafka_prefix}* variables")


def _check_with_librdkafka(
    kafka: Mapping[str, str], variables: Mapping[str, str], kafka_prefix: str
) -> None:
    """Let librdkafka parse the names and values: an unknown name (``KAFKA_HEAP_OPTS`` from a
    Kafka install's scripts) or a bad value then fails here, naming its variable.

    The check builds a producer configuration and drops it at once (no connection is made:
    ``bootstrap.servers`` is left out). ``security.protocol`` is left out too, so that no SSL
    context or SASL login (a Kerberos ``kinit``) starts for a client that never connects.
    """
    probe: dict[str, Any] = {
        key: value
        for key, value in kafka.items()
        if key not in ("security.protocol", "bootstrap.servers", "metadata.broker.list")
    }
    if not probe:
        return
    # No "no bootstrap.servers" or "consumer property" warnings (unless the user's own level).
    probe.setdefault("log_level", 0)
    try:
        confluent_kafka.Producer(probe)
    except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
        text = str(exc)
        match = re.search(r'property:? "([^"]+)"', text)
        key = match.group(1) if match else None
        if key is None or key not in variables:
            raise ConfigurationError(
                f"librdkafka refuses the settings of {', '.join(variables.values())}: "
                f"{_masked_text(text, kafka)}"
            ) from None
        variable = variables[key]
        if "No such configuration property" in text:
            raise ConfigurationError(
                f"{variable}: librdkafka has no setting {key!r} ({kafka_prefix}<NAME> variables "
                "are librdkafka settings, '_' standing for '.' and '__' for '_'; read them "
                "from another prefix with kafka_prefix=...)"
            ) from None
        value = "***" if is_secret(key) else repr(kafka[key])
        raise ConfigurationError(
            f"{variable}: {value} is not a valid value for librdkafka's {key!r}"
        ) from None


def _masked_text(text: str, kafka: Mapping[str, str]) -> str:
    for key, value in kafka.items():
        if is_secret(key) and value:
            text = text.replace(value, "***")
    return text


def _unknown_message(unknown: list[str], known: list[str], prefix: str, kafka_prefix: str) -> str:
    parts = []
    for variable in unknown:
        # Compare what follows the shared prefix, or every name looks alike.
        tails = {name.removeprefix(prefix): name for name in known}
        close = difflib.get_close_matches(variable.removeprefix(prefix), list(tails), n=1)
        hint = f" (did you mean {tails[close[0]]}?)" if close else ""
        parts.append(f"{variable}{hint}")
    return (
        f"unknown setting{'s' if len(unknown) > 1 else ''} in the environment: "
        f"{', '.join(parts)}; the settings are {', '.join(sorted(known))}, and librdkafka "
        f"settings are {kafka_prefix}<NAME> variables"
    )


def _convert(variable: str, text: str, kind: Any) -> Any:
    """``text`` as a value of type ``kind``: int, float, bool, str, ``X | None`` (``none``),
    or a tuple of exception classes (comma-separated import paths, ``module.Class``)."""
    shown = "***" if is_secret(variable) else repr(text)
    value = text.strip()
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(kind)
    )
    if optional:
        if value.lower() == _NONE:
            return None
        (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if kind is bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigurationError(f"{variable}: {shown} is not a boolean (true or false)")
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{variable}: {shown} is not an integer") from None
    if kind is float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ConfigurationError(f"{variable}: {shown} is not a number") from None
        return number
    if kind is str:
        return text
    if typing.get_origin(kind) is tuple:
        return tuple(_exception_class(variable, path.strip()) for path in value.split(",") if path)
    raise ConfigurationError(
        f"{variable}: this setting ({kind}) cannot be read from the environment"
    )


def _exception_class(variable: str, path: str) -> type[BaseException]:
    module_name, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name) if module_name else builtins, name)
    except (ImportError, AttributeError, ValueError):
        found = None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ConfigurationError(
            f"{variable}: {path!r} is not an importable exception class (module.Class)"
        )
    return found
