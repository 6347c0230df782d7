"""The C++ core under AddressSanitizer + UBSan, driven through its C header by sanitize_driver.cpp."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def compiler_with_sanitizers(tmp: Path) -> str:
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx})")
    probe = tmp / "probe.cpp"
    probe.write_text("int main() { return 0; }\n")
    res = subprocess.run([cxx, *FLAGS, str(probe), "-o", str(tmp / "probe")], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"{cxx} cannot build with -fsanitize=address,undefined: {res.stderr.strip()[:200]}")
    return cxx


def accepts_openmp(cxx: str, tmp: Path) -> bool:
    res = subprocess.run([cxx, *FLAGS, "-fopenmp", str(tmp / "probe.cpp"), "-o", str(tmp / "probe_omp")],
                         capture_output=True)
    return res.returncode == 0


@pytest.mark.slow
def test_core_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    cxx = compiler_with_sanitizers(tmp_path)
    openmp = accepts_openmp(cxx, tmp_path)  # the driver runs 2 threads too: the parallel paths get checked
    sources = sorted(str(p) for p in (ROOT / "csrc" / "src").glob("*.cpp"))
    exe = tmp_path / "driver"
    cmd = [cxx, *FLAGS, *(["-fopenmp"] if openmp else []),
           f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'csrc' / 'src'}",
           str(Path(__file__).with_name("sanitize_driver.cpp")), *sources, "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "0 failures" in run.stdout
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
