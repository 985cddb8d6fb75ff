"""``parafka broker start`` explains a missing or old Java, a missing Maven, bad options."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from parafka.broker.java import find_java
from parafka.cli import main


def start(tmp_path: Path, env: dict[str, str], *args: str) -> Result:
    env = {"PARAFKA_HOME": str(tmp_path / "home"), **env}
    return CliRunner().invoke(main, ["broker", "start", "--name", "t", *args], env=env)


def fake_java(tmp_path: Path, version_line: str) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return home


def test_java_home_without_java_is_named(tmp_path: Path) -> None:
    result = start(tmp_path, {"JAVA_HOME": str(tmp_path / "nowhere")})
    assert result.exit_code == 1
    assert f"JAVA_HOME is {str(tmp_path / 'nowhere')!r}" in result.stderr
    assert "bin/java is not an executable" in result.stderr


def test_no_java_anywhere_is_named(tmp_path: Path) -> None:
    result = start(tmp_path, {"JAVA_HOME": "", "PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "java was not found on PATH and JAVA_HOME is not set" in result.stderr


def test_old_java_is_refused_with_its_version(tmp_path: Path) -> None:
    home = fake_java(tmp_path, 'openjdk version "11.0.21" 2023-10-17')
    result = start(tmp_path, {"JAVA_HOME": str(home)})
    assert result.exit_code == 1
    assert "is Java 11; the Kafka 4.x broker needs Java 17 or newer" in result.stderr


def test_missing_maven_is_named_when_jars_are_not_cached(tmp_path: Path) -> None:
    real_java = shutil.which("java")
    if real_java is None:
        pytest.fail("this test needs java on PATH (the test command's machine has it)")
    java_home = Path(os.path.realpath(real_java)).parent.parent
    result = start(tmp_path, {"JAVA_HOME": str(java_home), "PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "Maven (mvn) is not on PATH" in result.stderr
    assert "kafka-" in result.stderr


def test_set_needs_key_equals_value(tmp_path: Path) -> None:
    result = start(tmp_path, {}, "--set", "no-equals-sign")
    assert result.exit_code == 2
    assert "'no-equals-sign' is not KEY=VALUE" in result.stderr


def test_real_java_is_found() -> None:
    assert find_java().major >= 17
