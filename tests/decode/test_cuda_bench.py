"""benchmarks/bench_decode_cuda.py: where the CUDA decoder cannot run it says why and exits 3."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_decode_cuda.py"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, check=False)


def test_without_the_library_it_exits_3_with_the_reason(tmp_path: Path) -> None:
    proc = run("--out", str(tmp_path), DSL_CUDA_DECODER_LIB=str(tmp_path / "missing.so"))
    assert proc.returncode == 3
    assert proc.stderr.startswith("bench_decode_cuda: cannot run here: cuda decoder:") and "is not built" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    proc = run("--iters", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip() == "bench_decode_cuda: error: --warmup must be >= 0 and --iters >= 1"
    assert "--exact" in run("--help").stdout
