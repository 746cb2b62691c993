"""Find the Python 3.9 interpreter the edge tests run robot_edge with (pyenv's).

Imported by name from the test modules (pytest puts this folder on sys.path), so it
has a name no other test folder uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def pyenv_roots() -> list[Path]:
    """Where pyenv keeps its versions: $PYENV_ROOT, `pyenv root`, ~/.pyenv."""
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            roots.append(Path(out.stdout.strip()))
    return [*roots, Path.home() / ".pyenv"]


def python39() -> str:
    """A Python 3.9 interpreter from pyenv, or a test failure that says how to get one."""
    for root in pyenv_roots():
        for cand in sorted((root / "versions").glob("3.9*/bin/python")):
            probe = subprocess.run([cand, "--version"], capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.startswith("Python 3.9"):
                return str(cand)
    pytest.fail(
        "no Python 3.9 under pyenv (looked in "
        f"{', '.join(str(r / 'versions') for r in pyenv_roots())}): the edge promises "
        "Python >= 3.9, so these tests need one: `pyenv install 3.9` (docs/robot.md)"
    )
