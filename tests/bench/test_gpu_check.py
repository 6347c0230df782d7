"""benchmarks/gpu_check.py: what runs without a GPU (the refusal, the step recorder); the rest runs on a lent GPU."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dsl_testing.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _module():
    return load_script("benchmarks/gpu_check.py")


def test_without_a_cuda_device_it_says_so_and_exits_3(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run for real")
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3 and "no CUDA device" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written when nothing ran


def test_a_failing_step_is_recorded_not_raised() -> None:
    gc = _module()
    ok = gc.run_step("echo", [sys.executable, "-c", "print('hello')"], 60)
    bad = gc.run_step("fails", [sys.executable, "-c", "import sys; sys.exit('boom')"], 60)
    slow = gc.run_step("slow", [sys.executable, "-c", "import time; time.sleep(5)"], 0.5)
    assert ok["ok"] and "hello" in ok["tail"] and ok["returncode"] == 0
    assert not bad["ok"] and bad["returncode"] == 1 and "boom" in bad["tail"]
    assert not slow["ok"] and slow["returncode"] is None and "timed out" in slow["tail"]
    failed = gc.timed("raises", lambda: 1 / 0)
    assert not failed["ok"] and failed["error"].startswith("ZeroDivisionError")
