"""Without rich (the ``demo`` extra) the demo fails with one line naming the extra."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from parafka.cli import main


def test_demo_without_rich_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import of it fails as if missing
    monkeypatch.delitem(sys.modules, "parafka.demo", raising=False)

    with pytest.raises(ModuleNotFoundError, match=r"pip install 'parafka\[demo\]'"):
        import parafka.demo  # noqa: F401

    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: parafka demo needs the rich package: pip install 'parafka[demo]'"
    )
