"""``Messages[Order]`` type-checks: mypy (strict) passes a consumer that uses its payloads
right and reports the ones that do not; the generics also work at run time."""

from __future__ import annotations

import re
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mypy import api  # a dev dependency, as pydantic is (the snippets use parafka.pydantic)

import parafka

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

PRELUDE = """
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic

import parafka
from parafka.pydantic import model_deserializer, model_serializer


@dataclass
class Order:
    id: int


class Invoice(pydantic.BaseModel):
    number: int


def parse(message: parafka.Message[Any]) -> Order:
    return Order(**parafka.json_deserializer(message))
"""

GOOD = (
    PRELUDE
    + """

class Orders(parafka.Consumer):
    def consume(self, messages: parafka.Messages[Order]) -> None:
        for m in messages:
            number: int = m.payload.id
            key: bytes | None = m.raw_key
            print(number, key, m.key, m.headers)
        first: parafka.Message[Order] = messages[0]
        orders: list[Order] = messages.payloads() + [m.payload for m in messages[1:]]
        print(first, orders)


class Untyped(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:  # bare: Messages[Any], as before
        for m in messages:
            print(m.payload.anything)


deserializer: parafka.Deserializer[Order] = parse
keys: parafka.Deserializer[str | None] = parafka.key_string_deserializer
headers: parafka.Deserializer[dict[str, str | None]] = parafka.headers_dict_deserializer
text: parafka.Deserializer[str] = parafka.string_deserializer
app = parafka.App(kafka={"bootstrap.servers": "127.0.0.1:1"})
app.topic("orders", Orders, deserializer=parse, key_deserializer=parafka.key_string_deserializer)
batch = parafka.Messages([], parse, "orders", 0)
order: Order = batch[0].payload
invoices: parafka.Deserializer[Invoice] = model_deserializer(Invoice)
serializer: parafka.Serializer = model_serializer


class Invoices(parafka.Consumer):
    def consume(self, messages: parafka.Messages[Invoice]) -> None:
        for m in messages:
            number: int = m.payload.number
            self.produce("out", m.payload, str(number), serializer=model_serializer)
"""
)

BAD = (
    PRELUDE
    + """

class Orders(parafka.Consumer):
    def consume(self, messages: parafka.Messages[Order]) -> None:
        for m in messages:
            print(m.payload.nope)  # E: "Order" has no attribute "nope"


batch = parafka.Messages([], parse, "orders", 0)
name: str = batch[0].payload  # E: expression has type "Order", variable has type "str"
wrong: parafka.Deserializer[int] = parafka.string_deserializer  # E: Incompatible types
model: parafka.Deserializer[Order] = model_deserializer(Invoice)  # E: expected "type[Order]"
"""
)


def expected_errors(source: str) -> dict[int, str]:
    """``# E: text`` comments: line number -> the text mypy's error there must contain."""
    return {
        number: line.split("# E: ", 1)[1]
        for number, line in enumerate(source.splitlines(), start=1)
        if "# E: " in line
    }


def run_mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sources: str) -> list[str]:
    """mypy --strict on ``sources`` (name -> code) against this checkout's ``src``."""
    for name, source in sources.items():
        (tmp_path / f"{name}.py").write_text(source)
    # MYPYPATH comes before site-packages: the parafka checked is this checkout's.
    monkeypatch.setenv("MYPYPATH", str(SRC))
    monkeypatch.chdir(tmp_path)  # no project config: the flags below are the whole of it
    stdout, stderr, _status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(tmp_path / "cache"),
            *(f"{name}.py" for name in sources),
        ]
    )
    assert not stderr, stderr
    return [line for line in stdout.splitlines() if line.strip()]


def test_mypy_accepts_typed_payloads_and_reports_wrong_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = run_mypy(tmp_path, monkeypatch, good=textwrap.dedent(GOOD), bad=textwrap.dedent(BAD))
    errors = [line for line in lines if ": error: " in line]
    assert [line for line in errors if not line.startswith("bad.py:")] == [], lines
    found: dict[int, str] = {}
    for line in errors:
        match = re.match(r"bad\.py:(\d+): error: (.*)", line)
        assert match is not None, line
        found[int(match[1])] = found.get(int(match[1]), "") + match[2]
    expected = expected_errors(textwrap.dedent(BAD))
    assert sorted(found) == sorted(expected), lines
    for number, text in expected.items():
        assert text in found[number], (number, found[number])


@dataclass
class Order:
    id: int


class Orders(parafka.Consumer):
    def consume(self, messages: parafka.Messages[Order]) -> None:
        pass


def test_the_generics_can_be_subscripted_at_run_time() -> None:
    assert typing.get_args(parafka.Messages[Order]) == (Order,)
    assert typing.get_origin(parafka.Message[Order]) is parafka.Message
    assert typing.get_args(parafka.Deserializer[Order]) == ([parafka.Message[Any]], Order)
    hints = typing.get_type_hints(Orders.consume)
    assert hints["messages"] == parafka.Messages[Order]


def test_the_readme_typed_payloads_example_type_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Typed payloads\n") :]
    section = section[: section.index("\n## ", 1)]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in the README's Typed payloads section"
    assert run_mypy(tmp_path, monkeypatch, readme_example=match.group(1)) == []
