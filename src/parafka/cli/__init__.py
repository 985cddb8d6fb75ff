"""The ``parafka`` command line."""

from parafka.cli.main import main

__all__ = ["main"]
