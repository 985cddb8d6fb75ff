"""Finding a Java runtime recent enough for the Kafka broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from parafka.errors import JavaNotFound

#: Kafka 4.x brokers need Java 17 or newer.
MIN_JAVA_MAJOR = 17

_VERSION_RE = re.compile(r'version "(?P<version>[^"]+)"')


@dataclass(frozen=True)
class Java:
    """A Java executable and its major version."""

    executable: str
    major: int


def parse_java_major(version_output: str) -> int:
    """Return the major version from ``java -version`` output.

    Handles both the old scheme (``"1.8.0_392"`` is 8) and the new one (``"17.0.15"`` is 17).
    Raises ``ValueError`` when the output names no version.
    """
    match = _VERSION_RE.search(version_output)
    if match is None:
        raise ValueError(f"no version in java -version output: {version_output.strip()[:200]!r}")
    parts = re.split(r"[._+-]", match["version"])
    first = int(parts[0])
    if first == 1 and len(parts) > 1:
        return int(parts[1])
    return first


def find_java(env: dict[str, str] | None = None) -> Java:
    """Locate ``java`` (``$JAVA_HOME/bin/java`` first, then ``PATH``) and check its version."""
    env = dict(os.environ) if env is None else env
    java_home = env.get("JAVA_HOME")
    if java_home:
        executable = str(Path(java_home) / "bin" / "java")
        if not os.access(executable, os.X_OK):
            raise JavaNotFound(
                f"JAVA_HOME is {java_home!r} but {executable} is not an executable; "
                "point JAVA_HOME at a Java 17+ installation or unset it"
            )
    else:
        found = shutil.which("java", path=env.get("PATH", ""))
        if found is None:
            raise JavaNotFound(
                "java was not found on PATH and JAVA_HOME is not set; the local Kafka broker "
                f"needs Java {MIN_JAVA_MAJOR} or newer "
                "(Debian: apt-get install openjdk-17-jre-headless)"
            )
        executable = found
    try:
        completed = subprocess.run(
            [executable, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise JavaNotFound(f"could not run {executable} -version: {exc}") from exc
    output = completed.stderr + completed.stdout
    try:
        major = parse_java_major(output)
    except ValueError as exc:
        raise JavaNotFound(f"{executable} did not report its version: {exc}") from exc
    if major < MIN_JAVA_MAJOR:
        raise JavaNotFound(
            f"{executable} is Java {major}; the Kafka 4.x broker needs Java {MIN_JAVA_MAJOR} "
            "or newer: install one and put it first on PATH or set JAVA_HOME"
        )
    return Java(executable=executable, major=major)
