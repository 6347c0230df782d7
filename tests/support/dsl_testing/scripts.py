"""The repository's scripts (build helpers, benchmarks) loaded as modules, fresh each time, for their tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def load_script(relative: str, name: str | None = None) -> ModuleType:
    """A fresh import of ROOT/`relative` (e.g. 'setup_cuda.py', 'benchmarks/bench_stream.py')."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name or f"{path.stem}_under_test", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
