"""The Apache Kafka broker's jars, resolved from Maven Central with Maven and cached.

The first resolution runs the ``copy-dependencies`` goal of a pinned maven-dependency-plugin on a
throw-away POM and copies the jars into ``<cache>/kafka-<version>/lib``; a ``.complete`` marker is
written last, so an interrupted download is redone and a finished one is reused without Maven
(offline). Maven runs with ``--strict-checksums``: a jar or POM whose checksum does not match the
registry's fails the resolution instead of being cached with a warning.

The Kafka version is checked (``MAJOR.MINOR.PATCH``, 4.1 or newer) before it reaches a file
name or Maven's command line.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parafka.errors import BrokerError, MavenError

#: Kafka's logging goes through slf4j 1.7; without this binding the broker logs nothing.
_SLF4J_BINDING = "log4j-slf4j-impl"
#: Used when the broker's own dependencies name no log4j-core (not the case for 4.1+).
_FALLBACK_LOG4J = "2.24.3"
_MAVEN_TIMEOUT = 900.0
#: Pinned, so that what runs does not depend on the Maven installation's default binding (2.8 on
#: Maven 3.8) nor change under us; 3.8.1 runs on Maven 3.6.3 and newer.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
#: The oldest Kafka the local broker supports (KRaft only, log4j2, the 4.1 storage tool).
MIN_KAFKA_VERSION = (4, 1)
_KAFKA_VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>parafka.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def check_kafka_version(version: object) -> str:
    """Return ``version`` if it is a Kafka release such as ``4.1.1`` (4.1 or newer); raise a
    :class:`BrokerError` naming the expected form otherwise.

    Only digits and dots pass, so the version is safe in a path and on Maven's command line.
    """
    if not isinstance(version, str) or not _KAFKA_VERSION_RE.fullmatch(version):
        raise BrokerError(
            f"Kafka version {str(version)[:40]!r} is not a release number such as 4.1.1 "
            "(MAJOR.MINOR.PATCH, digits only)"
        )
    major, minor, _patch = (int(part) for part in version.split("."))
    if (major, minor) < MIN_KAFKA_VERSION:
        oldest = ".".join(map(str, MIN_KAFKA_VERSION))
        raise BrokerError(f"Kafka {version} is too old: the local broker needs Kafka {oldest}+")
    return version


def jars_dir(cache_dir: Path, kafka_version: str) -> Path:
    """Where the jars of ``kafka_version`` live once resolved."""
    return cache_dir / f"kafka-{kafka_version}" / "lib"


def cached(cache_dir: Path, kafka_version: str) -> bool:
    """True when the jars of ``kafka_version`` are complete in the cache."""
    return (jars_dir(cache_dir, kafka_version).parent / ".complete").is_file()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_jars(cache_dir: Path, kafka_version: str, mvn: str | None = None) -> Path:
    """Return the directory holding every jar the broker needs, resolving them if missing.

    Safe to call from several processes at once: the resolution is under a file lock.
    """
    check_kafka_version(kafka_version)
    lib = jars_dir(cache_dir, kafka_version)
    home = lib.parent
    with file_lock(cache_dir / f"kafka-{kafka_version}.lock"):
        if cached(cache_dir, kafka_version):
            return lib
        executable = mvn or shutil.which("mvn")
        if executable is None:
            raise MavenError(
                f"the Kafka {kafka_version} broker jars are not cached in {home} and Maven (mvn) "
                "is not on PATH; install Maven once (Debian: apt-get install maven) so parafka "
                "can download them from Maven Central"
            )
        if lib.exists():
            shutil.rmtree(lib)
        lib.mkdir(parents=True)
        _copy_dependencies(executable, "org.apache.kafka", "kafka_2.13", kafka_version, lib)
        log4j = _log4j_version(lib)
        _copy_dependencies(executable, "org.apache.logging.log4j", _SLF4J_BINDING, log4j, lib)
        (home / ".complete").write_text(f"kafka {kafka_version}, log4j {log4j}\n")
    return lib


def _log4j_version(lib: Path) -> str:
    for jar in lib.glob("log4j-core-*.jar"):
        return jar.name.removeprefix("log4j-core-").removesuffix(".jar")
    return _FALLBACK_LOG4J


def maven_command(mvn: str, pom: Path, lib: Path) -> list[str]:
    """The Maven command line that copies ``pom``'s runtime dependencies into ``lib``."""
    return [
        mvn,
        "--batch-mode",
        "--no-transfer-progress",
        "--strict-checksums",
        "-f",
        str(pom),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]


def _copy_dependencies(mvn: str, group: str, artifact: str, version: str, lib: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="parafka-mvn-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_POM.format(group=group, artifact=artifact, version=version))
        command = maven_command(mvn, pom, lib)
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MavenError(
                f"Maven did not resolve {group}:{artifact}:{version} within {_MAVEN_TIMEOUT:.0f} s"
            ) from exc
        except OSError as exc:
            raise MavenError(f"could not run Maven ({mvn}): {exc}") from exc
        if completed.returncode != 0:
            errors = [line for line in completed.stdout.splitlines() if "[ERROR]" in line]
            detail = "\n".join((errors or completed.stdout.splitlines())[-12:])
            raise MavenError(
                f"Maven could not resolve {group}:{artifact}:{version} "
                f"(exit {completed.returncode}); is that version published on Maven Central "
                f"and is the registry reachable?\n{detail}"
            )
