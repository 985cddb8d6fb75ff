"""The published package: build the sdist and wheel, install the wheel into a clean virtualenv.

What a user gets from ``pip install parafka``: the version the source declares, the licence in
the wheel's metadata, every subpackage (a folder without ``__init__.py`` is silently left out of
the wheel), a working ``parafka`` command, and no rich (pydantic) unless the ``demo``
(``pydantic``) extra asks for it.
Needs the package index for the runtime dependencies (about a minute); no Kafka broker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import parafka
from parafka.demo import DEMO_NEEDS_RICH

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: The environment without this checkout on the import path: the clean virtualenv must import
#: the installed wheel, and pip must not take the source tree for an installed parafka.
CLEAN_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No --sdist/--wheel: the wheel is built from the sdist, so a file missing from it fails here.
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_wheel_carries_version_licence_and_every_package(dist: Path) -> None:
    wheel = _one(dist, "parafka-*.whl")
    assert wheel.name.startswith(f"parafka-{parafka.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"parafka-{parafka.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names

    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert f"\nVersion: {parafka.__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.MULTILINE)
    assert [r for r in requires if "extra ==" not in r and r.startswith("rich")] == []
    assert any(r.startswith("rich") and 'extra == "demo"' in r for r in requires), requires
    assert [r for r in requires if "extra ==" not in r and r.startswith("pydantic")] == []
    assert any(r.startswith("pydantic") and 'extra == "pydantic"' in r for r in requires)

    source = ROOT / "src"
    packages = {
        str(init.parent.relative_to(source)) for init in source.glob("parafka/**/__init__.py")
    }
    folders = {
        str(module.parent.relative_to(source))
        for module in source.glob("parafka/**/*.py")
        if "__pycache__" not in module.parts
    }
    assert folders == packages, f"folders without __init__.py: {folders - packages}"
    for package in packages:
        assert f"{package}/__init__.py" in names


def test_sdist_carries_licence(dist: Path) -> None:
    sdist = _one(dist, "parafka-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert f"parafka-{parafka.__version__}/LICENSE" in names


def test_wheel_installs_and_runs_in_a_clean_virtualenv(dist: Path, tmp_path: Path) -> None:
    wheel = _one(dist, "parafka-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)

    printed = _run(python, "-c", "import parafka; print(parafka.__version__)", cwd=tmp_path)
    assert printed.strip() == parafka.__version__
    assert "Usage: parafka" in _run(venv / "bin" / "parafka", "--help", cwd=tmp_path)
    assert parafka.__version__ in _run(venv / "bin" / "parafka", "--version", cwd=tmp_path)

    # rich is the demo extra: not installed, and the demo says how to get it.
    demo = subprocess.run(
        [str(venv / "bin" / "parafka"), "demo"],
        cwd=tmp_path,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert demo.returncode == 1
    assert DEMO_NEEDS_RICH in demo.stderr
    assert "Traceback" not in demo.stderr

    # pydantic is the pydantic extra: parafka works without it, parafka.pydantic says what to do.
    check = "import parafka; print(parafka.json_serializer({'a': 1}).decode())"
    assert _run(python, "-c", check, cwd=tmp_path).strip() == '{"a":1}'
    models = subprocess.run(
        [str(python), "-c", "import parafka.pydantic"],
        cwd=tmp_path,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert models.returncode == 1
    assert "pip install 'parafka[pydantic]'" in models.stderr
