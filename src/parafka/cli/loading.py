"""Loading ``MODULE:APP`` for ``parafka server``, ``info`` and ``topics``.

Every way loading can fail becomes one line on stderr (exit status 2); ``--debug`` (or
``PARAFKA_DEBUG=1``) adds the traceback. While the module is imported, ``App.start()`` and
``App.run()`` refuse to run (see ``App._importing``): a module that starts its app at import
would otherwise run it inside ``parafka info``, or twice inside ``parafka server``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

import parafka
from parafka.app import App
from parafka.errors import ConfigurationError

__all__ = ["AppLoadError", "debug_option", "load_app"]

_PARAFKA_DIR = Path(parafka.__file__).resolve().parent

F = TypeVar("F", bound=Callable[..., Any])


def debug_option(command: F) -> F:
    """``--debug`` (or ``PARAFKA_DEBUG=1``): print the traceback of a loading error too."""
    option = click.option(
        "--debug",
        is_flag=True,
        envvar="PARAFKA_DEBUG",
        help="Show the traceback when the app cannot be loaded (also PARAFKA_DEBUG=1).",
    )
    return option(command)


class AppLoadError(click.ClickException):
    """The app could not be loaded: shown as one ``error: ...`` line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _is_users(filename: str) -> bool:
    """False for frames of the import machinery and of parafka itself."""
    if filename.startswith("<frozen "):
        return False
    path = Path(filename).resolve()
    return path.parent.name != "importlib" and not path.is_relative_to(_PARAFKA_DIR)


def _where(exc: BaseException) -> str:
    """`` (at file:line)``: the innermost frame of the user's code in ``exc``'s traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_users(f.filename)]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _fail(message: str, exc: BaseException | None, debug: bool) -> AppLoadError:
    if debug and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    return AppLoadError(message)


def _import(module_name: str, debug: bool) -> Any:
    """Import the module with starting apps refused; every failure as :class:`AppLoadError`."""
    App._importing = module_name
    try:
        return importlib.import_module(module_name)
    except SyntaxError as exc:  # IndentationError and TabError too
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else "?"
        raise _fail(
            f"cannot import {module_name!r}: {type(exc).__name__} at {where}: {exc.msg}",
            exc,
            debug,
        ) from exc
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(f"{missing}."):
            raise _fail(
                f"cannot import {module_name!r}: no module named {missing!r} "
                f"(looked in the current directory {os.getcwd()} and sys.path)",
                exc,
                debug,
            ) from exc
        raise _fail(
            f"cannot import {module_name!r}: it imports {missing!r}, which is not installed"
            f"{_where(exc)}",
            exc,
            debug,
        ) from exc
    except ConfigurationError as exc:
        raise _fail(
            f"cannot load {module_name!r}: configuration error: {exc}{_where(exc)}", exc, debug
        ) from exc
    except Exception as exc:
        raise _fail(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}{_where(exc)}",
            exc,
            debug,
        ) from exc
    finally:
        App._importing = None


def load_app(target: str, *, debug: bool = False) -> App:
    """Import ``module:attribute`` (the current directory is importable) and return the App.

    ``attribute`` may be dotted (``shop:apps.orders``). Raises :class:`AppLoadError`.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(f"{target!r} is not MODULE:APP, e.g. shop.consumers:app")
    if module_name.endswith(".py") or "/" in module_name:
        name = Path(module_name).with_suffix("").as_posix().replace("/", ".")
        raise AppLoadError(
            f"{module_name!r} is a file name; give the module's name: {name}:{attribute}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    value: Any = _import(module_name, debug)
    where = module_name
    for part in attribute.split("."):
        if not part.isidentifier():
            raise AppLoadError(f"{target!r}: {attribute!r} is not a (dotted) attribute name")
        if not hasattr(value, part):
            raise AppLoadError(f"{target}: {where!r} has no attribute {part!r}")
        value = getattr(value, part)
        where = f"{where}:{part}" if where == module_name else f"{where}.{part}"
    if not isinstance(value, App):
        kind = "the class parafka.App" if value is App else type(value).__name__
        raise AppLoadError(f"{target} is {kind}, not a parafka.App instance")
    return value
