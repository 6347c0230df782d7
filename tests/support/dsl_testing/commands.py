"""Run the project's console commands as a user would: the scripts installed beside this interpreter."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def installed(name: str) -> str:
    """Path of console command `name` of this environment (its bin folder first, then PATH)."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed in this environment (pip install -e .)", pytrace=False)
    return found


def run_command(name: str, *args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run command `name` with `args` (made str), capturing text output; `env` adds to this environment."""
    return subprocess.run([installed(name), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, **env} if env else None)
