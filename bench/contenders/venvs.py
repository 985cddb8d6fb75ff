"""Each peer framework gets a virtualenv of its own: ``.venv-bench/<contender>``.

The peers pin versions of confluent-kafka, click and others that differ from parafka's (and
from each other's), so they cannot share parafka's ``.venv``. A peer's packages are pinned in
``bench/contenders/requirements/<contender>.txt``; the virtualenv is (re)built when that file
changes (its hash is kept in a stamp file). A contender module that declares ``VIRTUALENV =
"<peer>"`` runs in that peer's virtualenv (another way of running the same framework, as
``peer_arroyo_multiprocessing`` is for ``peer_arroyo``). Contenders without a requirements file
run with the interpreter of this process (parafka's own ``.venv``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from bench.contenders.catalog import traits

__all__ = ["ROOT", "interpreter", "is_peer", "requirements"]

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
VENVS = ROOT / ".venv-bench"


def virtualenv_of(contender: str) -> str:
    """The name of the virtualenv (and requirements file) ``contender`` runs with."""
    if (Path(__file__).resolve().parent / f"{contender}.py").is_file():
        return traits(contender).virtualenv or contender
    return contender


def requirements(contender: str) -> Path:
    return REQUIREMENTS / f"{virtualenv_of(contender)}.txt"


def is_peer(contender: str) -> bool:
    return requirements(contender).is_file()


def interpreter(contender: str, echo: bool = True) -> Path:
    """The Python to run ``contender`` with, building its virtualenv first if needed."""
    name = virtualenv_of(contender)
    pins = REQUIREMENTS / f"{name}.txt"
    if not pins.is_file():
        return Path(sys.executable)
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == digest:
        return python
    if echo:
        print(f"installing {name}'s packages into {venv.relative_to(ROOT)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(pins)], check=True)
    stamp.write_text(digest + "\n")
    return python
