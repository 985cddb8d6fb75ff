"""``parafka server|info MODULE:APP``: every way loading the app fails is one line, exit 2.

The modules are written to a temporary directory made the current one (the CLI imports from
there); each test uses its own module names, and the imports are undone afterwards.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import parafka
from parafka.cli import main

GOOD = """
import parafka

class Orders(parafka.Consumer):
    def consume(self, messages):
        pass

app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"}, group_id="shop")
app.topic("orders", Orders)
"""

Write = Callable[[str], str]


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Write]:
    """``module(source)`` writes a module into the current directory and returns its name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    names: list[str] = []

    def write(source: str) -> str:
        name = f"m_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(source)
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {"PARAFKA_DEBUG": ""})


def one_line_error(result: Result) -> str:
    """The error line; fails unless the command exited 2 with exactly one line on stderr."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("command", ["server", "info"])
def test_a_configuration_error_at_import_names_the_setting_and_the_line(
    module: Write, command: str
) -> None:
    name = module('import parafka\n\napp = parafka.App(kafka={}, group_id="shop")\n')
    line = one_line_error(run(command, f"{name}:app"))
    assert f"cannot load {name!r}: configuration error:" in line
    assert "needs 'bootstrap.servers'" in line
    assert f"{name}.py:3)" in line


@pytest.mark.parametrize("command", ["server", "info"])
def test_a_syntax_error_gives_file_line_and_message(module: Write, command: str) -> None:
    name = module("import parafka\n\napp = = parafka.App()\n")
    line = one_line_error(run(command, f"{name}:app"))
    assert f"cannot import {name!r}: SyntaxError at " in line
    assert line.endswith(f"{name}.py:3: invalid syntax")


def test_an_indentation_error_is_a_syntax_error_too(module: Write) -> None:
    name = module("import parafka\nif True:\nx = 1\n")
    line = one_line_error(run("info", f"{name}:app"))
    assert "IndentationError at " in line
    assert f"{name}.py:3: " in line


def test_a_missing_module_is_named(module: Write) -> None:
    line = one_line_error(run("server", "no_such_module_here:app"))
    assert "cannot import 'no_such_module_here': no module named 'no_such_module_here'" in line
    line = one_line_error(run("server", "no_such_package_here.consumers:app"))
    assert "no module named 'no_such_package_here'" in line


def test_a_missing_dependency_of_the_module_is_named_with_its_import_line(
    module: Write,
) -> None:
    name = module("import parafka\nimport not_installed_dependency_xyz\n")
    line = one_line_error(run("info", f"{name}:app"))
    assert "it imports 'not_installed_dependency_xyz', which is not installed" in line
    assert f"{name}.py:2)" in line


def test_any_other_exception_at_import_is_one_line(module: Write) -> None:
    name = module("import parafka\n\nraise RuntimeError('no database')\n")
    line = one_line_error(run("server", f"{name}:app"))
    assert f"cannot import {name!r}: RuntimeError: no database (at {Path.cwd()}" in line
    assert f"{name}.py:3)" in line


@pytest.mark.parametrize("target", ["nocolon", ":app", "shop:"])
def test_a_target_that_is_not_module_colon_app(target: str) -> None:
    line = one_line_error(run("info", target))
    assert f"{target!r} is not MODULE:APP" in line


def test_a_file_name_instead_of_a_module_name_gets_the_module_name() -> None:
    line = one_line_error(run("server", "shop/consumers.py:app"))
    assert "give the module's name: shop.consumers:app" in line


def test_dotted_attributes_are_followed(module: Write) -> None:
    name = module(GOOD + "\nclass apps:\n    orders = app\n")
    result = run("info", f"{name}:apps.orders")
    assert result.exit_code == 0, result.output
    assert "orders" in result.stdout


def test_a_missing_attribute_names_the_part_that_is_missing(module: Write) -> None:
    name = module(GOOD + "\nclass apps:\n    orders = app\n")
    line = one_line_error(run("info", f"{name}:apps.clicks"))
    assert f"'{name}:apps' has no attribute 'clicks'" in line
    line = one_line_error(run("info", f"{name}:nothing"))
    assert f"{name!r} has no attribute 'nothing'" in line
    line = one_line_error(run("info", f"{name}:apps..orders"))
    assert "is not a (dotted) attribute name" in line


def test_an_attribute_that_is_not_an_app(module: Write) -> None:
    name = module(GOOD + "\nnumber = 42\nfrom parafka import App\n")
    line = one_line_error(run("server", f"{name}:number"))
    assert f"{name}:number is int, not a parafka.App instance" in line
    line = one_line_error(run("server", f"{name}:App"))
    assert "is the class parafka.App, not a parafka.App instance" in line


@pytest.mark.parametrize("call", ["app.run()", "app.start()"])
@pytest.mark.parametrize("command", ["server", "info"])
def test_a_module_that_starts_its_app_at_import_is_refused(
    module: Write, command: str, call: str
) -> None:
    name = module(GOOD + f"{call}\n")
    line = one_line_error(run(command, f"{name}:app"))
    assert f"module {name!r} starts its app while being imported" in line
    assert 'under `if __name__ == "__main__":`' in line
    assert f"{name}.py:10)" in line
    assert parafka.App._importing is None


def test_info_imports_a_guarded_module_without_starting_the_app(module: Write) -> None:
    name = module(GOOD + 'if __name__ == "__main__":\n    raise SystemExit("started")\n')
    result = run("info", f"{name}:app")
    assert result.exit_code == 0, result.output
    assert "shop" in result.stdout
    assert sys.modules[name].app.running is False


def test_apps_can_start_again_after_a_module_was_imported(module: Write) -> None:
    name = module(GOOD + "app.run()\n")
    one_line_error(run("info", f"{name}:app"))
    app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:9"})
    with pytest.raises(parafka.ConfigurationError, match="no topics are routed"):
        app.start()  # the import refusal is over: this is the ordinary check


@pytest.mark.parametrize("env", [None, {"PARAFKA_DEBUG": "1"}])
def test_debug_shows_the_traceback(module: Write, env: dict[str, str] | None) -> None:
    name = module("import parafka\n\nraise RuntimeError('no database')\n")
    args = ["server", f"{name}:app"] + (["--debug"] if env is None else [])
    result = run(*args, env=env or {"PARAFKA_DEBUG": ""})
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: cannot import")


def test_topics_commands_report_loading_errors_the_same_way(module: Write) -> None:
    name = module("import parafka\n\napp = parafka.App(kafka={})\n")
    line = one_line_error(run("topics", "plan", f"{name}:app"))
    assert "configuration error:" in line
