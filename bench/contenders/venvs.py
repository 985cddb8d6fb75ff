"""Each peer framework gets a virtualenv of its own: ``.venv-bench/<contender>``.

The peers pin versions of confluent-kafka, click and others that differ from parafka's (and
from each other's), so they cannot share parafka's ``.venv``. A peer's packages are pinned in
``bench/contenders/requirements/<contender>.txt``; the virtualenv is (re)built when that file
changes (its hash is kept in a stamp file). Contenders without a requirements file run with the
interpreter of this process (parafka's own ``.venv``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "interpreter", "is_peer", "requirements"]

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
VENVS = ROOT / ".venv-bench"


def requirements(contender: str) -> Path:
    return REQUIREMENTS / f"{contender}.txt"


def is_peer(contender: str) -> bool:
    return requirements(contender).is_file()


def interpreter(contender: str, echo: bool = True) -> Path:
    """The Python to run ``contender`` with, building its virtualenv first if needed."""
    pins = requirements(contender)
    if not pins.is_file():
        return Path(sys.executable)
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()
    venv = VENVS / contender
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == digest:
        return python
    if echo:
        print(f"installing {contender}'s packages into {venv.relative_to(ROOT)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(pins)], check=True)
    stamp.write_text(digest + "\n")
    return python
