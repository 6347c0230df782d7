import subprocess
import sys
from pathlib import Path

import pytest

from dsl_deploy.machine import library_versions, machine_info, machine_slug
from dsl_deploy.bench.memory import current_rss_mb, peak_rss_mb


def test_machine_info_fields():
    info = machine_info()
    assert info["cores"] >= 1
    assert info["python"].count(".") == 2
    assert info["versions"]["numpy"] is not None
    assert isinstance(info["gpus"], list)


def test_library_versions_do_not_import_torch():
    before = "torch" in sys.modules
    library_versions()
    assert ("torch" in sys.modules) == before


def test_slug_is_file_name_safe():
    slug = machine_slug({"cpu": "Intel(R) Xeon(R) Gold 5217 @ 3.00GHz", "cores": 2, "gpus": []})
    assert slug == "intel-r-xeon-r-gold-5217-3-00ghz-2c"
    assert machine_slug({"cpu": "x", "cores": 1, "gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}) == "nvidia-h100-80gb-hbm3"


def _memory_in_fresh_process(reader: str) -> tuple[float | None, float | None]:
    """Run `reader` before and after touching 64 MB in a new interpreter, whose peak is still small."""
    code = (
        "import numpy as np\n"
        "from dsl_deploy.bench.memory import current_rss_mb, peak_rss_mb\n"
        f"before = {reader}()\n"
        "block = np.ones(64 * 2**20 // 8)\n"
        f"after = {reader}()\n"
        "print(before, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    before, after = (None if v == "None" else float(v) for v in out.split())
    return before, after


def test_peak_grows_with_allocation():
    # A fresh process: in this one, earlier tests may already have pushed the peak far above 64 MB more.
    before, after = _memory_in_fresh_process("peak_rss_mb")
    assert after >= before + 50


def test_current_rss_grows_with_allocation():
    before, after = _memory_in_fresh_process("current_rss_mb")
    if before is None:
        pytest.skip("this kernel reports neither VmRSS nor /proc/self/statm")
    assert after >= before + 50


def test_current_rss_is_never_above_the_peak():
    now = current_rss_mb()
    if now is None:
        pytest.skip("this kernel reports neither VmRSS nor /proc/self/statm")
    assert 0 < now <= peak_rss_mb() + 1  # +1 MB: the two are read a moment apart


def test_current_rss_falls_back_to_statm(monkeypatch):
    from dsl_deploy.bench import memory

    if not Path("/proc/self/statm").is_file():
        pytest.skip("needs Linux /proc/self/statm")
    with_status = memory.current_rss_mb()
    monkeypatch.setattr(memory, "_status_kb", lambda field: None)  # a kernel without VmRSS in /proc/self/status
    from_statm = memory.current_rss_mb()
    assert from_statm is not None and abs(from_statm - with_status) < 16
