"""The native masks core (csrc/src/masks.cpp) under AddressSanitizer + UBSan, driven through its C header."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all"]


@pytest.mark.slow
def test_masks_core_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx})")
    probe = tmp_path / "probe.cpp"
    probe.write_text("int main() { return 0; }\n")
    res = subprocess.run([cxx, *FLAGS, str(probe), "-o", str(tmp_path / "probe")], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"{cxx} cannot build with -fsanitize=address,undefined: {res.stderr.strip()[:200]}")
    exe = tmp_path / "driver"
    cmd = [cxx, *FLAGS, f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'tests' / 'support'}",
           str(Path(__file__).with_name("masks_sanitize_driver.cpp")), str(ROOT / "csrc" / "src" / "masks.cpp"),
           "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "0 failures" in run.stdout
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
